/**
 * Loaded in every suite worker. If the harness process dies (kill -9, crash),
 * the IPC channel closes: exit at once, so the environments this worker
 * started die with it (their helpers hold PR_SET_PDEATHSIG on us).
 */
if (process.connected) process.once('disconnect', () => process.exit(137));
