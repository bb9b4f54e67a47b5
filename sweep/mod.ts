/**
 * Sweeps: a sweep file (recipes × grid × ablation toggles × seeds) expanded
 * deterministically into members, validated before any compute, and run into
 * one directory with resume and `--shard i/n` (see docs/sweeps.md).
 *
 * @module
 */
export * from "./types.ts";
export * from "./spec.ts";
export * from "./expand.ts";
export * from "./validate.ts";
export * from "./prepare.ts";
export * from "./manifest.ts";
export * from "./status.ts";
export * from "./run.ts";
