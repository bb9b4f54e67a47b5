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
