/** A start-up problem the operator can fix; main prints its message as one line, no stack. */
export class StartupError extends Error {}
