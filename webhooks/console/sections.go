package console

import (
	"context"
	"net/url"

	"github.com/DataDog/datadog-agent/pkg/template/html"
)

// Section is a part of the console that another package fills with its
// own data: the person's usage against their quotas and recent requests
// on "My timon", the usage charts, journal and providers' health of the
// admin console. The console places what Render returns as is, so a
// Section renders with html/template (escaping what it shows).
type Section interface {
	// ID is stable and URL-safe: the HTML id of the section, and the path
	// of its page in the admin console (/console/admin/ID).
	ID() string
	// Title is the section's heading in the language (en, fr).
	Title(lang string) string
	// Render returns the section's HTML for the viewer; query is the
	// page's query string (filters, paging).
	Render(ctx context.Context, v Viewer, query url.Values) (template.HTML, error)
}

// Viewer is the signed-in person a section is rendered for. A section of
// "My timon" shows the viewer's own data only.
type Viewer struct {
	UserID string
	Groups []string
	Admin  bool
	Lang   string
}

// renderedSection is a Section ready for a template.
type renderedSection struct {
	ID, Title string
	HTML      template.HTML
	Failed    bool
}

func (c *Console) renderSections(ctx context.Context, secs []Section, v Viewer, q url.Values) []renderedSection {
	out := make([]renderedSection, 0, len(secs))
	for _, s := range secs {
		h, err := s.Render(ctx, v, q)
		rs := renderedSection{ID: s.ID(), Title: s.Title(v.Lang), HTML: h}
		if err != nil {
			c.log.Error("rendering a console section", "section", s.ID(), "err", err)
			rs.HTML, rs.Failed = "", true
		}
		out = append(out, rs)
	}
	return out
}
