package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"timon.dev/timon/core"
	"timon.dev/timon/core/audit"
)

// adminRoutes serves the journal to administrators:
//
//	GET /admin/audit?since=&until=&user=&integration=&group=&outcome=&request_id=&after=&limit=
//	    entries, ascending; "next" is the cursor for the following page
//	GET /admin/usage?since=&user=&integration=&group=
//	    requests, denials (by policy), invalid requests, outcomes, redactions
//	    and tokens per integration, group and day
func (s *Server) adminRoutes(g *gin.RouterGroup) {
	g.GET("/audit", s.adminAudit)
	g.GET("/usage", s.adminUsage)
}

func adminFilter(c *gin.Context) (audit.Filter, error) {
	f := audit.Filter{
		UserID: c.Query("user"), Integration: c.Query("integration"), Group: c.Query("group"),
		Outcome: c.Query("outcome"), RequestID: c.Query("request_id"),
	}
	var err error
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.Query(p.name); v != "" {
			if *p.dst, err = time.Parse(time.RFC3339, v); err != nil {
				if *p.dst, err = time.Parse(time.DateOnly, v); err != nil {
					return f, core.Errorf(core.KindInvalid, "%s: expected a date (2026-01-31) or an RFC 3339 time", p.name)
				}
			}
		}
	}
	if v := c.Query("after"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			return f, core.Errorf(core.KindInvalid, "after: expected a sequence number")
		}
	}
	if v := c.Query("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return f, core.Errorf(core.KindInvalid, "limit: expected 1 to 1000")
		}
	}
	return f, nil
}

func (s *Server) adminAudit(c *gin.Context) {
	f, err := adminFilter(c)
	if err != nil {
		writeError(c, err)
		return
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	entries, err := audit.List(c.Request.Context(), s.o.Store, f)
	if err != nil {
		s.log.Error("listing the journal", "err", err)
		writeError(c, core.Errorf(core.KindInternal, "the journal could not be read"))
		return
	}
	body := gin.H{"entries": entries}
	if len(entries) == f.Limit {
		body["next"] = entries[len(entries)-1].Seq
	}
	c.JSON(http.StatusOK, body)
}

func (s *Server) adminUsage(c *gin.Context) {
	f, err := adminFilter(c)
	if err != nil {
		writeError(c, err)
		return
	}
	if f.Since.IsZero() {
		f.Since = time.Now().AddDate(0, 0, -30)
	}
	stats, err := audit.StatsFor(c.Request.Context(), s.o.Store, f)
	if err != nil {
		s.log.Error("journal statistics", "err", err)
		writeError(c, core.Errorf(core.KindInternal, "the journal could not be read"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"since": f.Since, "stats": stats})
}
