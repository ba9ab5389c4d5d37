import { afterAll } from 'vitest';
import { removeTempDirs } from './harness.ts';

// Scratch directories of a test file (configs, run outputs, kept artifacts with checkpoint images) go with it.
afterAll(() => removeTempDirs());
