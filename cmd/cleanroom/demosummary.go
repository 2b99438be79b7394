package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
)

// DemoSummary is what `cleanroom demo --once --json` prints: the shape
// scripts rely on (more fields may come; none is renamed).
type DemoSummary struct {
	// Parties are the room's parties, as the demo registered them.
	Parties []string `json:"parties"`
	Match   struct {
		Parties           map[string]DemoMatch `json:"parties"`
		GroundTruthRecall float64              `json:"ground_truth_recall"`
	} `json:"match"`
	UseCases struct {
		SegmentSizing struct {
			Released   bool `json:"released"`
			Cells      int  `json:"cells"`
			Suppressed int  `json:"suppressed"`
		} `json:"segment_sizing"`
		Attribution struct {
			Released bool `json:"released"`
			// Lift is the mean lift over the campaigns with both arms shown.
			Lift      float64 `json:"lift"`
			Campaigns int     `json:"campaigns"`
		} `json:"attribution"`
		Lookalike struct {
			Released         bool    `json:"released"`
			ReachCurvePoints int     `json:"reach_curve_points"`
			AUC              float64 `json:"auc"`
		} `json:"lookalike"`
		RiskModel struct {
			Released    bool    `json:"released"`
			AUCJoint    float64 `json:"auc_joint"`
			AUCBankOnly float64 `json:"auc_bank_only"`
			// Scores are the applicants the bank scored online under the
			// kept joint model: a subscriber, then someone who is not.
			Scores []DemoScore `json:"scores"`
		} `json:"risk_model"`
	} `json:"use_cases"`
	Budget struct {
		// RhoSpent is the ρ of the releases the demo ran, summed.
		RhoSpent float64 `json:"rho_spent"`
	} `json:"budget"`
	Audit struct {
		Entries  int      `json:"entries"`
		Verified bool     `json:"verified"`
		Findings []string `json:"findings,omitempty"`
		// Engines counts the logged query runs by the engine that
		// computed them ("duckdb", "beam/prism").
		Engines map[string]int `json:"engines,omitempty"`
	} `json:"audit"`
}

// DemoScore is one online score the demo asked for.
type DemoScore struct {
	Subscriber bool    `json:"subscriber"`
	Score      float64 `json:"score"`
	Bin        string  `json:"bin"`
}

// DemoMatch is one party's view of the match of its population with a
// peer's: the operator's subscribers with the bank's customers, the
// bank's customers and the advertiser's shoppers with the operator's
// subscribers.
type DemoMatch struct {
	Rows      int     `json:"rows"`
	Matched   int64   `json:"matched"`
	MatchRate float64 `json:"match_rate"`
}

// demoMatchPairs are, per party, its population dataset and the peer
// dataset its DemoMatch is the match with.
var demoMatchPairs = map[string][2]string{
	"operator":   {"subscribers", "customers"},
	"bank":       {"customers", "subscribers"},
	"advertiser": {"shoppers", "subscribers"},
}

// demoSummaryOf gathers the summary of a demo run: the parties, the match
// report as each party sees it, the use cases' releases as their
// receivers opened them, and the room's audit log verified against a
// checkpoint the operator keeps.
func demoSummaryOf(ctx context.Context, cfg DemoConfig, admin *client.Client, session *demoSession) (*DemoSummary, error) {
	s := &DemoSummary{Parties: demoParties()}
	s.Match.Parties = map[string]DemoMatch{}
	for _, u := range demoUsers {
		c := admin.WithToken(session.Users[u.party+"/"+u.user])
		run, err := c.ShowMatch(ctx, demoRoom, session.Match)
		if err != nil {
			return nil, err
		}
		var m DemoMatch
		if run.Report != nil {
			own, peer := demoMatchPairs[u.party][0], demoMatchPairs[u.party][1]
			for _, d := range run.Report.Datasets {
				if d.Dataset == own {
					m.Rows = d.Rows
				}
			}
			for _, p := range run.Report.Pairs {
				if (p.Datasets[0] == own && p.Datasets[1] == peer) || (p.Datasets[0] == peer && p.Datasets[1] == own) {
					m.Matched, m.MatchRate = p.Matched, p.MatchRate[own]
				}
			}
		}
		s.Match.Parties[u.party] = m
	}
	var truth synth.Truth
	if raw, err := os.ReadFile(filepath.Join(session.SynthDir, "truth.json")); err == nil && json.Unmarshal(raw, &truth) == nil && truth.Overlap.Persons > 0 {
		s.Match.GroundTruthRecall = float64(s.Match.Parties["operator"].Matched) / float64(truth.Overlap.Persons)
	}

	rel := session.releases
	if r := rel["premium-product-uptake"]; r != nil {
		s.UseCases.SegmentSizing.Released, s.UseCases.SegmentSizing.Cells, s.UseCases.SegmentSizing.Suppressed = true, len(r.Cells), r.Suppressed
	}
	if r := rel["campaign-lift"]; r != nil {
		s.UseCases.Attribution.Released = true
		for _, l := range r.Lift {
			s.UseCases.Attribution.Lift += l.Lift / float64(len(r.Lift))
		}
		s.UseCases.Attribution.Campaigns = len(r.Lift)
	}
	if r := rel["mortgage-lookalike"]; r != nil {
		s.UseCases.Lookalike.Released, s.UseCases.Lookalike.ReachCurvePoints = true, len(r.Reach)
		if len(r.Models) > 0 {
			s.UseCases.Lookalike.AUC = r.Models[0].Evaluation.AUC
		}
	}
	r := rel["joint-credit-risk"]
	if r == nil {
		// The demo runs the variant that keeps the model for scoring.
		r = rel["joint-credit-risk-scoring"]
	}
	s.UseCases.RiskModel.Scores = []DemoScore{}
	for _, sc := range session.scores {
		s.UseCases.RiskModel.Scores = append(s.UseCases.RiskModel.Scores, DemoScore{Subscriber: sc.Subscriber, Score: sc.Score.Score, Bin: sc.Score.Bin})
	}
	if r != nil {
		s.UseCases.RiskModel.Released = true
		for _, m := range r.Models {
			switch m.Name {
			case "joint":
				s.UseCases.RiskModel.AUCJoint = m.Evaluation.AUC
			case "label_only":
				s.UseCases.RiskModel.AUCBankOnly = m.Evaluation.AUC
			}
		}
	}
	for _, r := range rel {
		s.Budget.RhoSpent += r.Loss.Rho
	}

	olivia := admin.WithToken(session.Users["operator/olivia"])
	dir := filepath.Join(cfg.DataDir, "parties", "operator", "audit")
	cp, _, err := keepCheckpoint(ctx, olivia, demoRoom, dir)
	if err != nil {
		return nil, err
	}
	st, err := loadAuditState(auditStatePath(dir, cp.Server, demoRoom))
	if err != nil {
		return nil, err
	}
	e, err := exportLog(ctx, olivia, demoRoom)
	if err != nil {
		return nil, err
	}
	s.Audit.Findings = auditlog.Verify(e, st.ServerKey, st.Checkpoints, st.Receipts, st.Cosigned)
	s.Audit.Entries, s.Audit.Verified = len(e.Entries), len(s.Audit.Findings) == 0
	for _, en := range e.Entries {
		if eng := en.Detail["engine"]; eng != "" {
			if s.Audit.Engines == nil {
				s.Audit.Engines = map[string]int{}
			}
			s.Audit.Engines[eng]++
		}
	}
	return s, nil
}
