package template_test

import (
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

// TestParseScoring reads a model job's scoring declaration, and names the
// line of a bad one.
func TestParseScoring(t *testing.T) {
	e, err := library.Get("joint-credit-risk-scoring")
	if err != nil {
		t.Fatal(err)
	}
	tp, err := template.Parse(e.YAML)
	if err != nil {
		t.Fatal(err)
	}
	sc := tp.Model.Scoring
	if sc == nil || sc.Disclosure != "credit-scores" || sc.To != "bank" || sc.Identifier != "phone" || sc.DailyLimit != 10000 {
		t.Fatalf("scoring = %+v", sc)
	}
	bad := strings.Replace(string(e.YAML), "identifier: phone", "identifier: shoe_size", 1)
	if _, err := template.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "shoe_size") {
		t.Errorf("unknown identifier class: %v", err)
	}
	bad = strings.Replace(string(e.YAML), "daily_limit: 10000", "daily_limit: 0", 1)
	if _, err := template.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "daily_limit") {
		t.Errorf("daily limit 0: %v", err)
	}
}
