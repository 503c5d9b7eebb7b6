/** What the CLI shows a person; logs are separate. */
export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Lays rows out in aligned columns, the header first, written at once (a list of 10,000 workers is one write, not 10,000). */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h) => h.length);
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) if (row[i]!.length > (widths[i] ?? 0)) widths[i] = row[i]!.length;
  }
  const line = (cells: string[]) => {
    let text = "";
    for (let i = 0; i < cells.length; i++) text += i === cells.length - 1 ? cells[i] : `${cells[i]!.padEnd(widths[i] ?? 0)}  `;
    return text.trimEnd();
  };
  let out = `${line(header)}\n`;
  for (const row of rows) out += `${line(row)}\n`;
  process.stdout.write(out);
}

export function printError(message: string): void {
  process.stderr.write(`pw: ${message}\n`);
}
