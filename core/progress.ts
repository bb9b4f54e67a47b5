/**
 * Training progress: a live bar (step, loss, images/s, ETA) from
 * `cli-progress` on a terminal, plain log lines otherwise (CI, pipes).
 *
 * @module
 */
import cliProgress from "cli-progress";
import type { StepMetrics } from "./trainer.ts";

/** Receives step metrics as training goes. */
export interface ProgressReporter {
  /** Called after every step. */
  update(metrics: StepMetrics): void;
  /** Prints a message without breaking the bar. */
  log(message: string): void;
  /** Ends the display. */
  stop(): void;
}

function format(m: StepMetrics): Record<string, string> {
  return {
    loss: m.loss.toFixed(4),
    ips: m.images_per_s.toFixed(0),
    lr: m.lr.toExponential(2),
  };
}

/** A reporter for `total` steps starting at `start`; `every` sets the plain-log interval. */
export function createProgress(
  options: { total: number; start: number; every: number; quiet?: boolean },
): ProgressReporter {
  if (options.quiet) return { update() {}, log() {}, stop() {} };
  if (!Deno.stdout.isTerminal()) return plainProgress(options);
  const bar = new cliProgress.SingleBar({
    format:
      "step {value}/{total} |{bar}| loss {loss} | {ips} img/s | lr {lr} | ETA {eta_formatted}",
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let last = options.start;
  let payload: Record<string, string> = { loss: "-", ips: "-", lr: "-" };
  bar.start(options.total, last, payload);
  return {
    update: (m) => {
      last = m.step + 1;
      payload = format(m);
      bar.update(last, payload);
    },
    log: (message) => {
      bar.stop();
      console.log(message);
      bar.start(options.total, last, payload);
    },
    stop: () => bar.stop(),
  };
}

function plainProgress(options: { total: number; start: number; every: number }): ProgressReporter {
  const started = performance.now();
  let first = options.start;
  return {
    update(m) {
      const done = m.step + 1;
      if (done % options.every !== 0 && done !== options.total) return;
      const elapsed = (performance.now() - started) / 1000;
      const rate = (done - first) / Math.max(elapsed, 1e-9);
      const eta = rate > 0 ? (options.total - done) / rate : 0;
      const f = format(m);
      console.log(
        `step ${done}/${options.total}  loss ${f.loss}  ${f.ips} img/s  lr ${f.lr}  ` +
          `ETA ${Math.round(eta)}s`,
      );
    },
    log: (message) => console.log(message),
    stop() {
      first = 0;
    },
  };
}
