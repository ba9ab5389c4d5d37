import { inject } from 'vitest';
import { useOperatorSignatures } from '../criu/signatures.ts';

/**
 * Loaded in every suite worker. If the harness process dies (kill -9, crash),
 * the IPC channel closes: exit at once, so the environments this worker
 * started die with it (their helpers hold PR_SET_PDEATHSIG on us).
 */
if (process.connected) process.once('disconnect', () => process.exit(137));

// The operator's signature files (settings.signatures), checked when the config was loaded: every worker diagnoses with them.
const signatureFiles = inject('plan').settings.signatures;
if (signatureFiles.length) useOperatorSignatures(signatureFiles);
