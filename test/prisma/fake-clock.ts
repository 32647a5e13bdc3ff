import type { Clock } from '../../lambda/prisma/clock.js';

/** A clock whose sleeps advance time instantly, recording each wait. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];

  constructor(public time = 1_700_000_000_000) {}

  now(): number {
    return this.time;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.time += Math.max(0, ms);
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
