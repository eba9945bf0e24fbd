/** Errors raised while reading run folders for a report. */

/** A run folder's file is missing or does not have the shape the report reads; the message names the file. */
export class ReportInputError extends Error {
  override name: string = "ReportInputError";
}
