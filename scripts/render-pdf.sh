#!/bin/sh
# render-pdf.sh — render page 1 (or PAGE) of an activity PDF to PNG, to look at its layout.
#
#   scripts/render-pdf.sh [REPORT.pdf [OUT.png [PAGE]]]
#
# Without REPORT.pdf it renders the sample report the activity package's test writes
# (go test ./activity -run 'TestPDFReport$' with AROUTER_PDF_OUT set). To render a real export:
#   ./bin/arouter activity export --format pdf -o report.pdf && scripts/render-pdf.sh report.pdf
# Needs pdftoppm (poppler-utils: apt-get install poppler-utils, brew install poppler); without it
# the script says so and exits 0.
set -eu

pdf=${1:-}
out=${2:-}
page=${3:-1}

if ! command -v pdftoppm >/dev/null 2>&1; then
	echo "render-pdf: pdftoppm not found (install poppler-utils); skipping" >&2
	exit 0
fi

if [ -z "$pdf" ]; then
	pdf=${TMPDIR:-/tmp}/arouter-activity-sample.pdf
	AROUTER_PDF_OUT="$pdf" go test -count=1 -run 'TestPDFReport$' ./activity >/dev/null
fi
if [ -z "$out" ]; then
	out=${pdf%.pdf}-page$page.png
fi

# pdftoppm writes PREFIX.png with -singlefile.
pdftoppm -png -r 110 -f "$page" -l "$page" -singlefile "$pdf" "${out%.png}"
echo "$out"
