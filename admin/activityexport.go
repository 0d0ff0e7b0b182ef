package admin

import (
	"bytes"
	"fmt"

	"github.com/arouter/arouter/activity"
)

// exportActivity serves GET /v1/activity/export?format=csv|pdf, with the parameters of
// GET /v1/activity, as a file to download: CSV with one row per group and day, or a PDF report.
func (c *call) exportActivity() {
	r, ok := c.parseActivity("format")
	if !ok {
		return
	}
	format := string(c.ctx.QueryArgs().Peek("format"))
	if format == "" {
		format = "csv"
	}
	var body bytes.Buffer
	var contentType string
	switch format {
	case "csv":
		q := r.q
		q.PerDay = true
		rows, err := r.src.Activity(c.context(), q)
		if err != nil {
			c.fail(err, nil)
			return
		}
		activity.Sort(rows, q.GroupBy, true)
		if err := activity.WriteCSV(&body, q.GroupBy, rows); err != nil {
			c.fail(err, nil)
			return
		}
		contentType = "text/csv; charset=utf-8"
	case "pdf":
		rep, err := activity.Collect(c.context(), r.src, r.q)
		if err != nil {
			c.fail(err, nil)
			return
		}
		rep.Organization = c.p.Org.Name
		rep.Scope, rep.Filters, rep.Generated = r.scope, r.filters, c.api.now().UTC()
		if err := activity.WritePDF(&body, rep); err != nil {
			c.fail(err, nil)
			return
		}
		contentType = "application/pdf"
	default:
		badField("format", "%q is not an export format; use csv or pdf", format).write(c.ctx)
		return
	}
	c.ctx.SetStatusCode(200)
	c.ctx.Response.Header.SetContentType(contentType)
	c.ctx.Response.Header.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, exportName(&r.q, format)))
	c.ctx.Response.Header.Set("Cache-Control", "no-store")
	c.ctx.Response.SetBodyRaw(body.Bytes())
}

// exportName is the file name an export suggests: ASCII only, so that it needs no encoding.
// The dates are the first and last day covered.
func exportName(q *activity.Query, format string) string {
	return fmt.Sprintf("arouter-activity-%s-to-%s-by-%s.%s", q.From.Format("2006-01-02"),
		q.To.AddDate(0, 0, -1).Format("2006-01-02"), q.GroupBy, format)
}
