// Package tabular reads a provider's data file, CSV or Parquet, and checks
// every row against the dataset's schema (cleanroom.Schema) before anything
// is hashed, blinded or uploaded (DESIGN.md, "The main path", step 3).
//
// # Using it
//
//	r, err := tabular.Open("subscribers.csv", "", nil) // format by extension
//	if err != nil {
//		return err // a *RowError says why the file cannot be read at all
//	}
//	defer r.Close()
//	res, err := tabular.Validate(schema, r)
//	// err is nil, a *FileError listing the first errors, or an I/O error.
//
// To validate and process in one pass, use a Scanner: it yields the rows
// that pass, typed, and reports the others at the end.
//
// Rows are read one at a time; memory does not grow with the file.
//
// # CSV files
//
//   - UTF-8 text, comma-delimited, quoted as in RFC 4180: a field holding a
//     comma, a quote or a line break is enclosed in double quotes, and a
//     quote inside it is doubled. A quote inside an unquoted field is an
//     error (no "lazy" quotes).
//   - The first row is the header naming the columns. Every row has as many
//     fields as the header.
//   - Lines end in LF or CRLF. Empty lines are skipped. There are no comment
//     lines.
//   - A UTF-8 byte-order mark at the start, as Excel writes, is accepted and
//     removed. A UTF-16 file, a gzip file or an Excel workbook is rejected
//     with a hint to export UTF-8 CSV.
//   - A header that is a single field containing ';', a tab or '|' means the
//     file uses another delimiter; it is rejected with that reason.
//
// # Parquet files
//
// The top-level columns are read by name; nested groups and repeated
// (list) columns cannot be declared in a schema. Values are turned into the
// text a CSV file would hold, then checked like CSV cells: integers and
// floats in decimal notation ('.' separator, no exponent), booleans as
// true/false, DATE as YYYY-MM-DD, TIMESTAMP as YYYY-MM-DD when it is
// midnight UTC (RFC 3339 otherwise, which a date column rejects), DECIMAL
// with its scale, UUID in lower-case hyphenated form, strings as they are.
// A null is an empty cell. So an INT64 column fits an int or decimal
// schema column, a DOUBLE holding whole numbers fits an int column, and an
// INT32 0/1 column fits a bool column.
//
// # Values
//
// An empty cell is a missing value: allowed in every column, counted per
// column in Result.Missing. Otherwise, by the column's declared type:
//
//   - string: any UTF-8 text without NUL bytes; one of the declared
//     categories if the schema lists them.
//   - int: a 64-bit integer, digits with an optional sign: 42, -7.
//   - decimal: digits with an optional sign and '.' fraction: 12.50, -3.
//     No thousands separators, no exponent. Kept to the column's scale,
//     rounded half away from zero, at most 18 digits in all.
//   - date: YYYY-MM-DD.
//   - bool: true, false (any case), 1 or 0.
//
// An int or decimal dimension's values lie between its first and last
// bucket edges. Metric values outside their clamp bounds are not errors:
// they are clamped later. Identifier cells are passed on as they are read,
// for the caller to normalise.
//
// Columns the schema does not declare are not read (Result.Ignored names
// them); every declared column must be in the header.
//
// # Limits
//
//   - A cell holds at most Options.MaxFieldBytes bytes (1 MiB by default).
//     A longer CSV field is counted and skipped as it is read, never held
//     in memory, and reported with its size.
//   - A file has at most MaxColumns columns.
//   - A Parquet page may declare at most 256 MiB. A Parquet file whose
//     metadata declares more than the file holds is rejected as damaged
//     before it is decoded.
//
// # Errors
//
// Each problem is a RowError naming the file (its base name), the row, the
// column and the reason:
//
//	subscribers.csv: row 12: column "tier": value "gold" is not a declared category
//	subscribers.csv: header: identifier column "phone" is missing
//	subscribers.csv: file is empty
//
// Row n is the n-th data row: the header is row 0, so without quoted line
// breaks or empty lines it is line n+1 of the file. A Scanner keeps the
// first Options.MaxErrors errors (20 by default) and counts them all.
//
// Errors may be read by people other than the file's owner, so they never
// contain the value of an identifier cell, and quote other values cut to
// 40 bytes. A header cell is quoted only if it looks like a column name.
package tabular
