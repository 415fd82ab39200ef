// CSV out of rows, and a browser download of it.

type Cell = string | number | boolean | null | undefined;

function escape(cell: Cell): string {
  if (cell === null || cell === undefined) return "";
  const text = String(cell);
  // Quote what would break the row; prefix formula starters so spreadsheets show, not run, them.
  const safe = /^[=+\-@\t\r]/.test(text) && Number.isNaN(Number(text)) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(header: string[], rows: Cell[][]): string {
  return [header, ...rows].map((row) => row.map(escape).join(",")).join("\r\n") + "\r\n";
}

export function download(filename: string, text: string, type = "text/csv;charset=utf-8"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export const stamp = (): string => new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
