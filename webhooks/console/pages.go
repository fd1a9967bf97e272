package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"timon.dev/timon/core/store"
)

// TokenScopes are the integrations a person may scope a token to.
var TokenScopes = []string{"lsp", "api", "chat"}

// tokenLifetimes are the choices of the token form, the default first.
var tokenLifetimes = []struct {
	Value string
	Days  int
}{{"90d", 90}, {"7d", 7}, {"30d", 30}, {"365d", 365}}

type minePage struct {
	Tokens    []*tokenRow
	NewSecret string
	NewToken  *store.Token
	FormError string
	FormName  string
	Scopes    []string
	Lifetimes []string
	Sections  []renderedSection
	HubURL    string
}

type tokenRow struct {
	*store.Token
	State string // active, revoked, expired
}

func rows(toks []*store.Token, now time.Time) []*tokenRow {
	out := make([]*tokenRow, 0, len(toks))
	for _, t := range toks {
		st := "active"
		switch {
		case !t.RevokedAt.IsZero():
			st = "revoked"
		case !t.Active(now):
			st = "expired"
		}
		out = append(out, &tokenRow{t, st})
	}
	return out
}

func (c *Console) minePage(w http.ResponseWriter, r *http.Request) {
	c.renderMine(w, r, http.StatusOK, &minePage{})
}

func (c *Console) renderMine(w http.ResponseWriter, r *http.Request, status int, d *minePage) {
	s := current(r)
	toks, err := c.st.ListTokens(r.Context(), s.person.ID)
	if err != nil {
		c.log.Error("listing tokens", "err", err)
		c.problem(w, r, http.StatusInternalServerError, c.signedView(r), "error.internal")
		return
	}
	v := c.signedView(r)
	v.Lang = language(w, r)
	d.Tokens = rows(toks, time.Now())
	d.Scopes = TokenScopes
	for _, l := range tokenLifetimes {
		d.Lifetimes = append(d.Lifetimes, l.Value)
	}
	d.HubURL = c.cfg.PublicURL
	d.Sections = c.renderSections(r.Context(), c.o.Mine, Viewer{UserID: s.person.ID, Groups: s.person.Groups, Admin: s.person.Admin, Lang: v.Lang}, r.URL.Query())
	v.Data = d
	c.render(w, r, status, "mine", "mine.title", v)
}

// createToken makes a personal token for the signed-in person, with
// their current groups, and shows its secret once, in this answer only.
func (c *Console) createToken(w http.ResponseWriter, r *http.Request) {
	p := current(r).person
	name := strings.TrimSpace(r.PostForm.Get("name"))
	lang := language(w, r)
	fail := func(key string) {
		c.renderMine(w, r, http.StatusBadRequest, &minePage{FormError: c.cats[lang].t(key), FormName: name})
	}
	if name == "" || utf8.RuneCountInString(name) > 100 {
		fail("tokens.error_name")
		return
	}
	scope := r.PostForm["scope"]
	for _, s := range scope {
		if !slices.Contains(TokenScopes, s) {
			fail("tokens.error_scope")
			return
		}
	}
	slices.Sort(scope)
	scope = slices.Compact(scope)
	days := 0
	exp := r.PostForm.Get("expires")
	if exp == "" {
		exp = tokenLifetimes[0].Value
	}
	for _, l := range tokenLifetimes {
		if l.Value == exp {
			days = l.Days
		}
	}
	if days == 0 {
		fail("tokens.error_expiry")
		return
	}
	t := &store.Token{UserID: p.ID, Groups: p.Groups, Name: name, Scope: scope, ExpiresAt: time.Now().UTC().Add(time.Duration(days) * 24 * time.Hour)}
	secret, err := c.st.CreateToken(r.Context(), t)
	if err != nil {
		c.log.Error("creating a token", "err", err)
		c.problem(w, r, http.StatusInternalServerError, c.signedView(r), "error.internal")
		return
	}
	c.log.Info("token created from the console", "user", p.ID, "token", t.ID)
	c.renderMine(w, r, http.StatusOK, &minePage{NewSecret: secret, NewToken: t})
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := current(r).person
	id := r.PathValue("id")
	if !c.revoked(w, r, c.st.RevokeUserToken(r.Context(), id, p.ID)) {
		return
	}
	c.log.Info("token revoked from the console", "user", p.ID, "token", id)
	http.Redirect(w, r, "/console/#tokens", http.StatusSeeOther)
}

// revoked reports whether a revocation went through, and answers the
// problem when it did not: an unknown token (or another person's) is 404.
func (c *Console) revoked(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.problem(w, r, http.StatusNotFound, c.signedView(r), "error.no_token")
		return false
	case err != nil:
		c.log.Error("revoking a token", "err", err)
		c.problem(w, r, http.StatusInternalServerError, c.signedView(r), "error.internal")
		return false
	}
	return true
}

func (c *Console) adminPage(w http.ResponseWriter, r *http.Request) {
	v := c.signedView(r)
	v.Lang = language(w, r)
	links := make([]map[string]string, 0, len(c.o.Admin))
	for _, s := range c.o.Admin {
		links = append(links, map[string]string{"ID": s.ID(), "Title": s.Title(v.Lang)})
	}
	v.Data = links
	c.render(w, r, http.StatusOK, "admin", "admin.title", v)
}

func (c *Console) adminTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := c.st.ListTokens(r.Context(), strings.TrimSpace(r.URL.Query().Get("user")))
	if err != nil {
		c.log.Error("listing tokens", "err", err)
		c.problem(w, r, http.StatusInternalServerError, c.signedView(r), "error.internal")
		return
	}
	v := c.signedView(r)
	v.Data = map[string]any{"Tokens": rows(toks, time.Now()), "User": r.URL.Query().Get("user")}
	c.render(w, r, http.StatusOK, "admin_tokens", "admin.tokens_title", v)
}

func (c *Console) adminRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !c.revoked(w, r, c.st.RevokeToken(r.Context(), id)) {
		return
	}
	c.log.Info("token revoked by an administrator", "admin", current(r).person.ID, "token", id)
	http.Redirect(w, r, "/console/admin/tokens", http.StatusSeeOther)
}

func (c *Console) adminSection(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("section")
	i := slices.IndexFunc(c.o.Admin, func(s Section) bool { return s.ID() == id })
	if i < 0 {
		c.problem(w, r, http.StatusNotFound, c.signedView(r), "error.not_found")
		return
	}
	s := current(r)
	v := c.signedView(r)
	v.Lang = language(w, r)
	v.Data = c.renderSections(r.Context(), c.o.Admin[i:i+1], Viewer{UserID: s.person.ID, Groups: s.person.Groups, Admin: true, Lang: v.Lang}, r.URL.Query())[0]
	c.render(w, r, http.StatusOK, "admin_section", "admin.title", v)
}
