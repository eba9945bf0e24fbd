// The part of puppeteer-core's API the browser tests use. Its own declarations reference @types/node, which
// would replace the node:assert and other Node types of every module checked with them.

export interface WaitOptions {
  timeout?: number;
  polling?: number;
}

/** What a test reads or sets of an element inside the page. */
export interface PageElement {
  textContent: string | null;
  value: string;
}

/** An element found with `$`. */
export interface ElementHandle {
  /** Sets an `<input type="file">`'s files to these paths, as if the reader picked them. */
  uploadFile(...paths: string[]): Promise<void>;
}

export interface Page {
  goto(url: string): Promise<unknown>;
  reload(): Promise<unknown>;
  $(selector: string): Promise<ElementHandle | null>;
  on(event: "pageerror", listener: (error: unknown) => void): unknown;
  waitForSelector(selector: string, options?: WaitOptions): Promise<unknown>;
  waitForFunction<A = undefined>(
    predicate: (arg: A) => boolean,
    options?: WaitOptions,
    arg?: A,
  ): Promise<unknown>;
  click(selector: string): Promise<void>;
  $eval<R, A = undefined>(
    selector: string,
    f: (element: PageElement, arg: A) => R,
    arg?: A,
  ): Promise<Awaited<R>>;
  evaluate<R, A = undefined>(f: (arg: A) => R, arg?: A): Promise<Awaited<R>>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  close(): Promise<void>;
}

export interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export interface LaunchOptions {
  executablePath: string;
  args?: string[];
  userDataDir?: string;
  protocolTimeout?: number;
  defaultViewport?: { width: number; height: number };
}

declare const puppeteer: { launch(options: LaunchOptions): Promise<Browser> };
export default puppeteer;
