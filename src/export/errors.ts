/** Errors raised while exporting or running an exported model. */

/** Bad input to the exporter or to the onnxruntime helpers; the message says what was expected and found. */
export class ExportError extends Error {
  override name = "ExportError";
}
