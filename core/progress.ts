/**
 * Training progress: a live bar (step, loss, images/s over the last 10 steps,
 * ETA) from `cli-progress` on a terminal, plain log lines otherwise (CI, pipes).
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

/**
 * Images/s over the last `size` steps: one step's own time can be misleading
 * when steps overlap (with a step in flight, the last one's report arrives
 * right after its predecessor's, `core/train_loop.ts`).
 */
export function rateWindow(size = 10): (m: StepMetrics) => number {
  const recent: { ms: number; images: number }[] = [];
  return (m) => {
    recent.push({ ms: m.ms, images: (m.images_per_s * m.ms) / 1000 });
    if (recent.length > size) recent.shift();
    const ms = recent.reduce((sum, r) => sum + r.ms, 0);
    return (recent.reduce((sum, r) => sum + r.images, 0) / Math.max(ms, 1e-9)) * 1000;
  };
}

function format(m: StepMetrics, imagesPerSecond: number): Record<string, string> {
  return {
    loss: m.loss.toFixed(4),
    ips: imagesPerSecond.toFixed(0),
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
  const rate = rateWindow();
  bar.start(options.total, last, payload);
  return {
    update: (m) => {
      last = m.step + 1;
      payload = format(m, rate(m));
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
  const recentRate = rateWindow();
  return {
    update(m) {
      const done = m.step + 1;
      const imagesPerSecond = recentRate(m);
      if (done % options.every !== 0 && done !== options.total) return;
      const elapsed = (performance.now() - started) / 1000;
      const rate = (done - first) / Math.max(elapsed, 1e-9);
      const eta = rate > 0 ? (options.total - done) / rate : 0;
      const f = format(m, imagesPerSecond);
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
