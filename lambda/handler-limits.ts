/**
 * The sync handler's limits, shared with the CDK stack (which sizes the function and its alarms from
 * them) without the stack importing the handler and its runtime dependencies.
 */

/** The function's timeout: Lambda's maximum. */
export const FUNCTION_TIMEOUT_MINUTES = 15;

/** How many times one run continues itself at most, so a bug cannot loop forever. */
export const MAX_CONTINUATIONS = 48;
