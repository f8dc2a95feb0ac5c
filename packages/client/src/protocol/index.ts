// The version the services report in HealthCheck (the generated code under generated/ is never edited by hand).
export const version = "0.1.0";
