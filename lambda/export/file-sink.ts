/**
 * A text sink onto a file that respects backpressure: text is gathered into chunks of
 * {@link CHUNK_CHARS} characters, and a write waits for `drain` whenever the stream's buffer is full,
 * so memory stays bounded however fast rows arrive. The file is written under a `.partial` name and
 * renamed on {@link FileSink.close}, so an interrupted export never leaves a truncated file that
 * looks complete.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { SyncError } from '../common/errors.js';

/** Characters gathered before one `stream.write` (fewer, larger writes; still small). */
export const CHUNK_CHARS = 64 * 1024;

export class FileSink {
  readonly path: string;
  private readonly partialPath: string;
  private readonly stream: WriteStream;
  private pending: string[] = [];
  private pendingChars = 0;
  private bytesWritten = 0;
  private failure: unknown;
  private closed = false;

  /**
   * @example
   * const sink = new FileSink('/tmp/out/images.ndjson');
   * await sink.write('{"a":1}\n');
   * const { bytes } = await sink.close();
   */
  constructor(path: string) {
    this.path = path;
    this.partialPath = `${path}.partial`;
    this.stream = createWriteStream(this.partialPath, { highWaterMark: 256 * 1024 });
    this.stream.on('error', (error) => {
      this.failure ??= error;
    });
  }

  /** Bytes handed to the file so far (UTF-8). */
  get bytes(): number {
    return this.bytesWritten;
  }

  /** Appends text; resolves at once unless the file's buffer is full (then after `drain`). */
  async write(text: string): Promise<void> {
    this.throwIfFailed();
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= CHUNK_CHARS) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    this.bytesWritten += Buffer.byteLength(chunk, 'utf8');
    if (!this.stream.write(chunk)) await this.drained();
    this.throwIfFailed();
  }

  /** Resolves on `drain`, or on an error (which the permanent listener records), removing both listeners. */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('error', done);
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      throw new SyncError(
        'export.writeFailed',
        `could not write ${this.path}`,
        { path: this.path },
        this.failure,
      );
    }
  }

  /** Flushes, closes and renames the file into place; returns its size. */
  async close(): Promise<{ path: string; bytes: number }> {
    if (this.closed) return { path: this.path, bytes: this.bytesWritten };
    await this.flush();
    this.closed = true;
    const finished = once(this.stream, 'close');
    this.stream.end();
    try {
      await finished;
    } catch (error) {
      this.failure ??= error;
    }
    this.throwIfFailed();
    await rename(this.partialPath, this.path);
    return { path: this.path, bytes: this.bytesWritten };
  }

  /** Closes and deletes the partial file (after a failure elsewhere). Never throws. */
  async abort(): Promise<void> {
    this.closed = true;
    this.pending = [];
    if (!this.stream.destroyed) {
      const closed = once(this.stream, 'close').catch(() => undefined);
      this.stream.destroy();
      await closed;
    }
    await rm(this.partialPath, { force: true });
  }
}
