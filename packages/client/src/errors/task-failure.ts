/**
 * What a handler throws to fail its attempt on purpose. Any other thrown value fails the attempt
 * as retryable; TaskFailure.nonRetryable() ends the task at once, as Temporal's
 * ApplicationFailure.nonRetryable() does.
 */
export class TaskFailure extends Error {
  override name = "TaskFailure";
  readonly retryable: boolean;

  constructor(message: string, options?: { retryable?: boolean; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.retryable = options?.retryable ?? true;
  }

  static retryable(message: string, cause?: unknown): TaskFailure {
    return new TaskFailure(message, { retryable: true, cause });
  }

  static nonRetryable(message: string, cause?: unknown): TaskFailure {
    return new TaskFailure(message, { retryable: false, cause });
  }

  /** Whether a value thrown by a handler permits another attempt. */
  static isRetryable(reason: unknown): boolean {
    return !(reason instanceof TaskFailure) || reason.retryable;
  }
}
