package httpapi

// The model part of the attack suite: the parties of a look-alike job and
// of online scoring try to learn, from what the job releases to them, who
// is in the other party's data.

import (
	"encoding/json"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

// TestAttackModelLookalikeBoundary: the operator receives the look-alike
// activation segment and tries to recover the bank's seed by fitting the
// segment's boundary: had the seed members been taken out, the operator's
// rows missing from the segment among rows whose features put them inside
// would be exactly the seed. The segment is a function of the DP model and
// the operator's own features only, so rows with the same features are in
// it or out of it together, seed members or not, and the operator recovers
// no seed member.
func TestAttackModelLookalikeBoundary(t *testing.T) {
	f := newFixture(t)
	f.lookalikeReady("100", "segment: {disclosure: lookalike-segment, to: operator, threshold: 0.01}", true)
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "lookalike"})
	if status != 201 {
		t.Fatalf("run = %d %s", status, resp)
	}
	var q QueryBody
	json.Unmarshal(resp, &q)
	seg := f.open("operator", q.ID).Segment
	if seg == nil || len(seg.Rows) == 0 {
		t.Fatalf("the operator's copy has segment %+v", seg)
	}
	in := map[int]bool{}
	for _, r := range seg.Rows {
		in[r] = true
	}
	// The operator's upload (hmacRoomData): rows 1..450 are people 0..449,
	// who are the bank's customers, premium (the seed) below 440; rows
	// 451..500 are subscribers the bank does not have. Every row has the
	// same features (tier basic), so the boundary cannot cut between them.
	seedRow := func(row int) bool { return row <= 440 }
	recovered, seedIn, othersIn := 0, 0, 0
	for row := 1; row <= 500; row++ {
		switch {
		case in[row] && seedRow(row):
			seedIn++
		case in[row]:
			othersIn++
		case seedRow(row):
			recovered++ // left out although its features put it in
		}
	}
	if recovered > 0 || (seedIn > 0) != (othersIn > 0) {
		t.Errorf("rows with the same features split by the segment: %d seed rows in, %d other rows in, %d seed rows recovered as the gap",
			seedIn, othersIn, recovered)
	}
	t.Logf("look-alike boundary: %d of 440 seed rows and %d of 60 other rows in the segment; %d seed rows recovered", seedIn, othersIn, recovered)
}

// TestAttackModelScoringMembership: the bank scores identifiers through
// the online endpoint to tell the operator's subscribers from others. A
// non-subscriber gets a subscriber's features, drawn by the model's key, so
// its score has the subscribers' distribution, the same on every repeat,
// and takes the same time.
func TestAttackModelScoringMembership(t *testing.T) {
	r := newScoringRoom(t, 10000, true)
	model := r.runModel()
	var answered atomic.Int64
	r.serveOperator(&answered)
	now := time.Now

	// Non-subscribers: the same form, a subscriber's features, the same
	// score when asked again, late-like as often as subscribers are late.
	lateLike := 0
	const n = 200
	for k := range n {
		j := 1_000_000 + k
		status, b, resp := r.score("analyst", r.scoreRequest(model, j, "500", now()))
		if status != 200 {
			t.Fatalf("score non-subscriber = %d %s", status, resp)
		}
		switch b.Score {
		case r.expected(model, true, "500"):
			lateLike++
		case r.expected(model, false, "500"):
		default:
			t.Fatalf("non-subscriber scored %v, which no subscriber with balance 500 scores", b.Score)
		}
		if k < 20 {
			if _, again, _ := r.score("analyst", r.scoreRequest(model, j, "500", now())); again.Score != b.Score {
				t.Errorf("non-subscriber %d scored %v, then %v", j, b.Score, again.Score)
			}
		}
	}
	if share, sd := float64(lateLike)/n, math.Sqrt(0.25*0.75/n); math.Abs(share-0.25) > 4*sd {
		t.Errorf("%.2f of non-subscribers scored as late, subscribers are 0.25 late", share)
	}

	// Timing: subscribers and non-subscribers interleaved; a rank test
	// finds no difference.
	var subs, non []float64
	for k := range 60 {
		for _, i := range []int{k * 7 % 4000, 2_000_000 + k} {
			req := r.scoreRequest(model, i, "300", now())
			start := time.Now()
			if status, _, resp := r.score("analyst", req); status != 200 {
				t.Fatalf("score = %d %s", status, resp)
			}
			d := time.Since(start).Seconds()
			if i < 4000 {
				subs = append(subs, d)
			} else {
				non = append(non, d)
			}
		}
	}
	if z := mannWhitneyZ(subs, non); math.Abs(z) > 4.5 {
		t.Errorf("response times of subscribers and non-subscribers differ: Mann-Whitney z = %.2f", z)
	}

}
