/**
 * Class names and caption templates: the default digit vocabulary of MNIST and
 * the `{}` templates that turn a class name into a caption.
 *
 * @module
 */

/** Default class names of MNIST: the digit words, indexed by label. */
export const DIGIT_WORDS: readonly string[] = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
];

/** Default caption templates; `{}` is replaced by the class name. */
export const DEFAULT_CAPTIONS: readonly string[] = [
  "a photo of the number {}.",
  "a handwritten digit {}.",
  "the number {}.",
  "a picture of a {}.",
  "an image of the digit {}.",
];

/** The placeholder a caption template must contain. */
export const PLACEHOLDER = "{}";

/**
 * Fills a caption template: every `{}` becomes `className`.
 *
 * @param template Template containing at least one `{}`.
 * @param className The class name to insert.
 */
export function fillCaption(template: string, className: string): string {
  if (!template.includes(PLACEHOLDER)) {
    throw new Error(
      `caption template "${template}" has no "${PLACEHOLDER}" placeholder; ` +
        `expected e.g. "a photo of the number {}."`,
    );
  }
  return template.replaceAll(PLACEHOLDER, className);
}

/**
 * Class names of Fashion-MNIST (Xiao et al., arXiv 1708.07747), indexed by
 * label, lower-cased from the official list (`T-shirt/top` → `t-shirt`).
 */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "t-shirt",
  "trouser",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle boot",
];

/** Default caption templates of Fashion-MNIST; `{}` is replaced by the class name. */
export const FASHION_CAPTIONS: readonly string[] = [
  "a photo of a {}.",
  "a picture of a {}.",
  "a greyscale photo of a {}.",
  "a product photo of a {}.",
  "an image of a {}.",
];
