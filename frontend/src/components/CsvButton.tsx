// Download a table's rows as CSV.
import { download, stamp, toCsv } from "../util/csv";

type Cell = string | number | null | undefined;

export function CsvButton({
  title,
  name,
  table,
}: {
  title: string;
  name: string;
  table: () => { header: string[]; rows: Cell[][] };
}) {
  const save = () => {
    const { header, rows } = table();
    download(`${name}-${stamp()}.csv`, toCsv(header, rows));
  };
  return (
    <button type="button" className="ghost small" onClick={save} aria-label={`Download ${title} as CSV`}>
      CSV
    </button>
  );
}
