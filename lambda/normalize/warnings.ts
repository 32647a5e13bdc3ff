/** How many examples a tallied warning quotes. */
const MAX_EXAMPLES = 3;
/** Examples are quoted from input, which may be huge: keep each short. */
const MAX_EXAMPLE_CHARS = 80;

/**
 * Collects the non-fatal oddities of one report. Repeated oddities (thousands of findings with
 * the same problem) become one line with a count and a few examples, so a 5 MB report cannot
 * produce 5 MB of warnings. The output does not depend on the order oddities were met in.
 *
 * @example
 * const warnings = new Warnings();
 * warnings.tally('vulnerabilities with an unrecognized severity', 'info');
 * warnings.list(); // ['1 vulnerabilities with an unrecognized severity (e.g. "info")']
 */
export class Warnings {
  private readonly lines: string[] = [];
  private readonly tallies = new Map<string, { count: number; examples: string[] }>();

  /** Records one warning line. */
  add(message: string): void {
    this.lines.push(message);
  }

  /** Counts one occurrence of `category`, quoting `example` if it is among the first few. */
  tally(category: string, example?: string): void {
    let tally = this.tallies.get(category);
    if (tally === undefined) {
      tally = { count: 0, examples: [] };
      this.tallies.set(category, tally);
    }
    tally.count += 1;
    if (example === undefined) return;
    const short = example.length > MAX_EXAMPLE_CHARS ? `${example.slice(0, MAX_EXAMPLE_CHARS)}…` : example;
    const { examples } = tally;
    if (examples.includes(short)) return;
    // Keep the smallest few, not the first few: the warnings must not depend on row order.
    if (examples.length < MAX_EXAMPLES) examples.push(short);
    else if (short < (examples[examples.length - 1] as string)) examples[examples.length - 1] = short;
    else return;
    examples.sort();
  }

  /** Every warning: single lines in the order added, then tallies sorted by category. */
  list(): string[] {
    const categories = [...this.tallies.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const tallied = categories.map(([category, { count, examples }]) => {
      const quoted = examples.map((example) => JSON.stringify(example)).join(', ');
      return examples.length > 0 ? `${count} ${category} (e.g. ${quoted})` : `${count} ${category}`;
    });
    return [...this.lines, ...tallied];
  }
}
