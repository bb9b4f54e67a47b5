/**
 * The PyTorch anchor of the ViT benchmarks (`shared/anchors/torch_vit_step.py`):
 * where it is, which Python runs it, its precision modes, and one run of it
 * with the same step options as novalab's.
 *
 * @module
 */
import type { VitStepOptions } from "./vit_step.ts";

/** The PyTorch anchor: `$NOVALAB_ANCHOR`, else `../shared/anchors/torch_vit_step.py` beside the checkout. */
function anchorPath(): string {
  return Deno.env.get("NOVALAB_ANCHOR") ??
    new URL("../../shared/anchors/torch_vit_step.py", import.meta.url).pathname;
}

/** The anchor's precision modes: fp32 eager, and bf16 autocast + fused attention (`amp`). */
export type AnchorMode = "fp32" | "amp";

/** Pythons to try for the anchor: `$NOVALAB_PYTHON`, then PATH's, then Debian's (python3-torch). */
function pythonCandidates(): string[] {
  const chosen = Deno.env.get("NOVALAB_PYTHON");
  return chosen ? [chosen] : ["python3", "/usr/bin/python3"];
}

/**
 * Runs the anchor for the step `o` on `device` in `mode`; returns its output
 * line, or `undefined` (with the reasons on stderr) when no Python has torch.
 */
export async function runAnchor(
  o: VitStepOptions,
  device: "cpu" | "cuda",
  mode: AnchorMode,
): Promise<string | undefined> {
  const args = [
    anchorPath(),
    "--device",
    device,
    "--mode",
    mode,
    "--steps",
    String(o.steps),
    ...["batch", "img", "patch", "dim", "depth", "heads", "out"].flatMap((k) => [
      `--${k}`,
      String(o[k as keyof VitStepOptions]),
    ]),
  ];
  const problems: string[] = [];
  for (const python of pythonCandidates()) {
    try {
      const out = await new Deno.Command(python, {
        args,
        env: { OMP_NUM_THREADS: String(navigator.hardwareConcurrency) },
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (out.success) return new TextDecoder().decode(out.stdout).trim();
      const last = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
      problems.push(`${python}: ${last}`);
    } catch (e) {
      problems.push(`${python}: ${(e as Error).message}`);
    }
  }
  console.error(`anchor unavailable (${problems.join("; ")}); see shared/anchors/README.md`);
  return undefined;
}

/** `--anchor-modes` → the modes, or an error naming the value and the valid ones. */
export function parseAnchorModes(list: string): AnchorMode[] {
  const modes = list.split(",").map((m) => m.trim()).filter((m) => m !== "");
  const bad = modes.filter((m) => m !== "fp32" && m !== "amp");
  if (bad.length > 0 || modes.length === 0) {
    throw new Error(
      `--anchor-modes ${JSON.stringify(list)}: expected a comma-separated list of fp32, amp ` +
        `(got ${bad.length > 0 ? bad.map((m) => JSON.stringify(m)).join(", ") : "none"})`,
    );
  }
  return modes as AnchorMode[];
}
