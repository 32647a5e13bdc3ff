/**
 * The sync handler's limits, shared with the CDK stack (which sizes the function and its alarms from
 * them) without the stack importing the handler and its runtime dependencies.
 */

/** The function's timeout: Lambda's maximum. */
export const FUNCTION_TIMEOUT_MINUTES = 15;

/** How many times one run continues itself at most, so a bug cannot loop forever. */
export const MAX_CONTINUATIONS = 48;

/**
 * The handler stops paging this long before Lambda's timeout. The client's longest single request is
 * 90 s (`PRISMA_REQUEST_TIMEOUT`'s default) and it aborts a request in flight at the deadline, so what
 * follows the deadline is the last page's writes, the checkpoint, the run record and the continuation's
 * invoke; 120 s covers a request started just before the deadline even if the abort were late.
 */
export const SAFETY_MARGIN_MS = 120_000;
