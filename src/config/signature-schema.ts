import { z } from 'zod';

/**
 * The schema of a signature file: known failures as data. One file is a YAML
 * list of signatures; the built-in ones live in src/criu/signatures/*.yaml,
 * an operator adds files through settings.signatures. The criu layer
 * (src/criu/signatures.ts) turns each into a matcher.
 */

/** Where in the life of a cell a failure can be seen. */
export const SIGNATURE_STAGES = [
  'check', 'dump', 'pre-dump', 'restore', 'page-server', 'lazy-pages', 'runtime-checkpoint', 'runtime-restore',
  'cri-checkpoint', 'cri-restore', 'verify', 'transfer', 'any',
] as const;
export type SignatureStage = (typeof SIGNATURE_STAGES)[number];

/** Named TS functions a signature can call for what text cannot say (src/criu/signature-hooks.ts implements each). */
export const DETAIL_HOOKS = [
  'cpu-features-missing', 'cpu-features-lacking', 'cpu-strict-check', 'file-missing', 'file-size-differs', 'file-mode-differs', 'tcp-socket-address',
  'criu-pair-images', 'criu-pair-wire',
] as const;
export type DetailHook = (typeof DETAIL_HOOKS)[number];

const Regex = z.string().min(1).superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `a JavaScript regular expression (${(e as Error).message})` });
  }
});

const Version = z.string().regex(/^\d+(\.\d+){0,2}$/, 'a version such as "4.1" or "6.13.0"');

const When = z.strictObject({
  criuVersionBelow: Version.optional(),
  criuVersionAtLeast: Version.optional(),
  kernelBelow: Version.optional(),
  kernelAtLeast: Version.optional(),
  /** The pool's breakpoint probe: "works" (breakpoints reach a ptracer there) or "not-known-to-work" (false or unknown). */
  hwBreakpoints: z.enum(['works', 'not-known-to-work']).optional(),
});

export const SignatureMatch = z
  .strictObject({
    /** A regex on one line of the evidence; a list: the first regex that finds a line gives the evidence. */
    line: z.union([Regex, z.array(Regex).min(1)]).optional(),
    /** The regexes of line and alsoLine ignore case. */
    ignoreCase: z.boolean().optional(),
    /** Only the last N non-empty lines are searched for `line` (where a log stops). */
    tail: z.number().int().min(1).max(1000).optional(),
    /** A second regex that must also find a line somewhere. */
    alsoLine: Regex.optional(),
    exitCode: z.number().int().min(0).max(255).optional(),
    /** A regex on the name of the signal CRIU died from (e.g. "SIGSEGV", ".*" for any). */
    signal: Regex.optional(),
    timedOut: z.boolean().optional(),
    when: When.optional(),
    /** Two pools' CRIU versions in a migration: the destination's is older, or they differ at all. */
    criuPair: z.enum(['destination-older', 'differ']).optional(),
  })
  .refine((m) => m.line !== undefined || m.signal !== undefined || m.timedOut === true || m.exitCode !== undefined || m.criuPair !== undefined, {
    message: 'at least one of line, signal, timedOut: true, exitCode or criuPair (a signature that matches everything says nothing)',
  });

export const SignatureSpec = z.strictObject({
  id: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a kebab-case id (lowercase letters and digits, words joined by "-")'),
  stage: z.union([z.enum(SIGNATURE_STAGES), z.array(z.enum(SIGNATURE_STAGES)).min(1)], { error: `a stage or a list of stages, of: ${SIGNATURE_STAGES.join(', ')}` }),
  match: SignatureMatch,
  /** CRIU cannot work at all with this cause: every command fails the same way. */
  fatal: z.boolean().default(false),
  /** tuple: FAIL (this combination is broken); environment: ERROR (the harness or machine); note: never changes a verdict. */
  blame: z.enum(['tuple', 'environment', 'note'], { error: 'blame "tuple" (FAIL), "environment" (ERROR) or "note" (shown, no verdict)' }),
  /** Matched after every specific signature (a generic line that a more precise one explains). */
  fallback: z.boolean().default(false),
  title: z.string().min(1),
  cause: z.string().min(1),
  /** A TS hook that says what this occurrence adds to the cause (which file, which CPU features). */
  detail: z.enum(DETAIL_HOOKS, { error: `a detail hook, one of: ${DETAIL_HOOKS.join(', ')}` }).optional(),
  remediation: z.string().min(1),
  /** A recording made here (a path under fixtures/recorded/) or the URL of the public report where it was seen. */
  reference: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** What the harness can apply to prove the remediation (a re-run with it). */
  remedy: z
    .strictObject({
      env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'), z.string()).optional(),
      criuOptions: z.array(z.string().regex(/^--[a-z0-9-]+(=\S+)?$/, 'a CRIU long option such as "--tcp-established"')).min(1).optional(),
      runtime: z.enum(['runc', 'crun', 'podman']).optional(),
    })
    .refine((r) => r.env || r.criuOptions || r.runtime, { message: 'at least one of env, criuOptions, runtime' })
    .optional(),
  /** An operator's signature that replaces the built-in one of the same id. */
  overrides: z.boolean().optional(),
});
export type SignatureSpec = z.infer<typeof SignatureSpec>;

export const SignatureFile = z.array(SignatureSpec, { error: 'a list of signatures ("- id: …, stage: …, match: {line: …}, blame: …, title: …, cause: …, remediation: …")' }).min(1);
