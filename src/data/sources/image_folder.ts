/** A folder of images with one sub-folder per class (PNG or JPEG), as grayscale images of one side. */

import type { ImageSet } from "../domain.ts";
import { files as hostFiles } from "../../host/files.ts";
import { DataError } from "../errors.ts";
import { areaResize } from "../transforms/resize.ts";
import { decodeImage } from "./_image_decode.ts";
import { readBytes } from "./_package.ts";
import { listFiles } from "./text_folder.ts";

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions {
  /** Side every image is resized to (area averaging; non-square images are stretched). */
  side: number;
}

/** An image set plus the class names (label k is classes[k]) and the file each image came from. */
export interface ImageFolder {
  set: ImageSet;
  classes: string[];
  files: string[];
}

/**
 * Loads `dir/<class>/<image>`: classes are the sub-folders sorted by name (label = position), images within a
 * class sorted by name; hidden entries are skipped, and any other file type is an error.
 */
export function loadImageFolder(dir: string, options: ImageFolderOptions): ImageFolder {
  const { side } = options;
  if (!Number.isInteger(side) || side <= 0) {
    throw new DataError(`image side must be a positive integer, found ${side}`);
  }
  let classes: string[];
  try {
    classes = hostFiles().readDirSync(dir).filter((e) => e.isDirectory && !e.name.startsWith("."))
      .map((e) => e.name).sort();
  } catch (e) {
    throw new DataError(`cannot read folder (${(e as Error).message})`, { file: dir });
  }
  if (classes.length === 0) throw new DataError("has no class sub-folders", { file: dir });
  const files: string[] = [];
  const labels: number[] = [];
  const pixels: Float32Array[] = [];
  classes.forEach((name, label) => {
    const entries = listFiles(`${dir}/${name}`);
    if (entries.length === 0) throw new DataError("has no images", { file: `${dir}/${name}` });
    for (const entry of entries) {
      const file = `${dir}/${name}/${entry}`;
      const image = decodeImage(readBytes(file), file);
      pixels.push(areaResize(image.pixels, image.width, image.height, side, side));
      labels.push(label);
      files.push(file);
    }
  });
  const images = new Float32Array(pixels.length * side * side);
  pixels.forEach((p, k) => images.set(p, k * side * side));
  return { set: { images, labels: Int32Array.from(labels), side }, classes, files };
}
