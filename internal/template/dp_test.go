package template

import (
	"os"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// TestLimitsMatchThePrivacyCore keeps the domain's template limits equal to
// the privacy core's, so a template that validates is one the core
// accepts.
func TestLimitsMatchThePrivacyCore(t *testing.T) {
	if cleanroom.MinGroupSizeFloor != dp.DefaultMinGroupSize || cleanroom.DefaultMinGroupSize != dp.DefaultMinGroupSize {
		t.Errorf("min group size: domain %d/%d, dp %d", cleanroom.MinGroupSizeFloor, cleanroom.DefaultMinGroupSize, dp.DefaultMinGroupSize)
	}
	if cleanroom.MaxReleaseRho != dp.MaxRho || cleanroom.MaxReleaseEpsilon != dp.MaxEpsilon || cleanroom.BudgetQuantum != dp.RhoQuantum {
		t.Errorf("budget limits differ from the privacy core's")
	}
	files := testdataFiles(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := mustParse(t, string(data)).Controls
		checkCore(t, f, c)
	}
	for _, c := range []cleanroom.Controls{
		{Rho: cleanroom.MaxReleaseRho, MaxGroupsPerPerson: 1},
		{Rho: cleanroom.BudgetQuantum, MaxGroupsPerPerson: 1},
		{Epsilon: cleanroom.MaxReleaseEpsilon, MaxGroupsPerPerson: 3},
		{Epsilon: cleanroom.BudgetQuantum, MaxGroupsPerPerson: 1},
	} {
		checkCore(t, "limits", c)
	}
}

func checkCore(t *testing.T, name string, c cleanroom.Controls) {
	t.Helper()
	p := dp.Params{Rho: c.Rho, Epsilon: c.Epsilon, MaxGroups: c.MaxGroupsPerPerson, MaxRowsPerGroup: 1}
	if c.Epsilon != 0 {
		p.Mechanism = dp.Laplace
	}
	if _, err := dp.NewCount(p); err != nil {
		t.Errorf("%s: dp.NewCount(%+v): %v", name, p, err)
	}
}
