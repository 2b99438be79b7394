package release

import (
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/dpml"
)

// ModelReport is one in-room model's part of a release: its evaluation,
// computed from the released histogram cells alone, and its model card.
type ModelReport struct {
	Name       string           `json:"name"`
	Evaluation *dpml.Evaluation `json:"evaluation"`
	Card       ModelCard        `json:"card"`
}

// ModelCard documents a model for its receivers' validators. The model is
// ε-DP, so what it says of the model is too; it says nothing of a person.
type ModelCard struct {
	// Inputs are the model's inputs: a feature column, or a column and a
	// category or bucket for one-hot inputs, each scaled to [0, 1].
	Inputs []ModelInput `json:"inputs"`
	// Intercept is the model's intercept.
	Intercept float64 `json:"intercept"`
	// Epsilon and Lambda are the training's privacy budget (pure ε,
	// charged as ρ = ε²/2) and L2 regularisation.
	Epsilon float64 `json:"epsilon"`
	Lambda  float64 `json:"lambda"`
	// Method names the training algorithm; Evaluation says on whom the
	// model was evaluated.
	Method     string    `json:"method"`
	Evaluation string    `json:"evaluation"`
	TrainedAt  time.Time `json:"trained_at"`
}

// ModelInput is one input of a model. Coefficient is shown for inputs of
// the receiving side's own dataset; for a partner's inputs only
// Importance, the coefficient's magnitude, is.
type ModelInput struct {
	Name        string   `json:"name"`
	Dataset     string   `json:"dataset"`
	Coefficient *float64 `json:"coefficient,omitempty"`
	Importance  float64  `json:"importance"`
}

// NoisyCount is a count released with noise.
type NoisyCount struct {
	Count      int64   `json:"count"`
	Interval95 float64 `json:"interval_95"`
}

// ReachPoint is one point of a look-alike reach curve: how many people
// score at or above Threshold, summed from the released bins.
type ReachPoint struct {
	Threshold  float64 `json:"threshold"`
	People     float64 `json:"people"`
	Interval95 float64 `json:"interval_95"`
}

// Segment is a look-alike activation segment: a declared disclosure to the
// population's owner only, as row numbers (from 1) of its own upload.
type Segment struct {
	Disclosure string  `json:"disclosure"`
	Dataset    string  `json:"dataset"`
	Version    int     `json:"version"`
	Threshold  float64 `json:"threshold"`
	Rows       []int   `json:"rows"`
}
