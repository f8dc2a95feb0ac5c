export const enqueueSql = `
INSERT INTO tasks (id, name, description, payload, state, max_retries, timeout_ms, retry_backoff_ms, created_at, last_sequence)
VALUES (:id, :name, :description, :payload, 'queued', :maxRetries, :timeoutMs, :retryBackoffMs, :now, 1)`;
