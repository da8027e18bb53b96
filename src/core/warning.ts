/**
 * A parameter that could not be passed on as given (dropped, renamed or clamped for a provider, or not
 * expressible in another protocol). Reported in `x-nexus-warnings` and the request log, never lost silently.
 */
export interface Warning {
  readonly param: string;
  readonly message: string;
}
