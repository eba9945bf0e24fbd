/** The code version that run ids and stage caches are keyed by; bump it when results would change. */
export const VERSION = "0.1.2";
