package sqlite

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

func openTestDB(t *testing.T, path string) *DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "cleanroom.db")
	}
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func update(t *testing.T, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func setBudget(t *testing.T, db *DB, b Budget) {
	t.Helper()
	update(t, db, func(tx *Tx) error { return tx.SetBudget(&b) })
}

func reserve(db *DB, id, receiver string, rho float64, datasets ...string) error {
	req := BudgetRequest{ID: id, Receiver: receiver, Loss: dp.Loss{Rho: rho}, Description: "test release"}
	for _, d := range datasets {
		req.Reads = append(req.Reads, DatasetRead{Dataset: d})
	}
	return db.Update(context.Background(), func(tx *Tx) error { return tx.ReserveBudget(req) })
}

func usageOf(t *testing.T, db *DB, dataset string) map[string]Usage {
	t.Helper()
	out := map[string]Usage{}
	err := db.View(context.Background(), func(tx *Tx) error {
		us, err := tx.BudgetUsage(dataset)
		for _, u := range us {
			out[u.Scope+"/"+u.Subject+"/"+u.Period] = u
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkLedger(t *testing.T, db *DB) {
	t.Helper()
	if err := db.View(context.Background(), func(tx *Tx) error { return tx.CheckLedger() }); err != nil {
		t.Error(err)
	}
}

func wantCode(t *testing.T, what string, err error, code string, substrs ...string) {
	t.Helper()
	if got := cleanroom.ErrorCode(err); got != code {
		t.Errorf("%s: error = %v (code %q), want code %q", what, err, got, code)
		return
	}
	msg, _ := cleanroom.ErrorMessage(err)
	for _, s := range substrs {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: message %q does not contain %q", what, msg, s)
		}
	}
}

var products = Budget{Dataset: "r1/bank.products", Party: "bank", Size: 1_000_000, Cap: dp.Loss{Rho: 1, Epsilon: 1, Delta: 1e-8}}

func TestBudgetRoundTrip(t *testing.T) {
	db := openTestDB(t, "")
	ctx := context.Background()
	setBudget(t, db, products)
	var got *Budget
	update(t, db, func(tx *Tx) (err error) { got, err = tx.Budget(products.Dataset); return err })
	if got.Party != "bank" || got.Size != 1_000_000 || got.Cap != products.Cap || got.Renewal != RenewNever || got.CreatedAt.IsZero() {
		t.Errorf("Budget() = %+v", got)
	}

	changed := products
	changed.Cap.Rho = 2
	setBudget(t, db, changed)
	update(t, db, func(tx *Tx) (err error) { got, err = tx.Budget(products.Dataset); return err })
	if got.Cap.Rho != 2 {
		t.Errorf("Budget().Cap.Rho = %v after raising it, want 2", got.Cap.Rho)
	}

	for _, tc := range []struct {
		name string
		edit func(b *Budget)
		code string
		want string
	}{
		{"renewal change", func(b *Budget) { b.Renewal = RenewMonthly }, cleanroom.EConflict, "cannot change"},
		{"party change", func(b *Budget) { b.Party = "operator" }, cleanroom.EConflict, "cannot change"},
		{"delta too large", func(b *Budget) { b.Cap.Delta = 1e-7 }, cleanroom.EInvalid, "must be below 1/(10·1000000)"},
		{"NaN rho", func(b *Budget) { b.Cap.Rho = nan() }, cleanroom.EInvalid, "rho must be a finite number"},
		{"negative rho", func(b *Budget) { b.Cap.Rho = -1 }, cleanroom.EInvalid, "rho must be positive"},
		{"no size", func(b *Budget) { b.Size = 0 }, cleanroom.EInvalid, "dataset size"},
		{"unknown renewal", func(b *Budget) { b.Dataset, b.Renewal = "other", "weekly" }, cleanroom.EInvalid, "unknown renewal"},
		{"no party", func(b *Budget) { b.Party = "" }, cleanroom.EInvalid, "required"},
	} {
		b := products
		tc.edit(&b)
		err := db.Update(ctx, func(tx *Tx) error { return tx.SetBudget(&b) })
		wantCode(t, tc.name, err, tc.code, tc.want)
	}
	err := db.View(ctx, func(tx *Tx) error { _, err := tx.Budget("nope"); return err })
	wantCode(t, "missing budget", err, cleanroom.ENotFound, `dataset "nope" has no privacy budget`)
	err = reserve(db, "run-1", "operator", 0.1, "nope")
	wantCode(t, "reserve on missing budget", err, cleanroom.ENotFound, `"nope"`)
}

func nan() float64 { var z float64; return z / z }

// A run that would overspend is refused at reservation, before anything
// runs, with an error naming the dataset, the cap, what is spent and
// reserved, and what was requested; it leaves no trace in the ledger.
func TestReserveRefusesOverspend(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	if err := reserve(db, "run-1", "operator", 0.6, products.Dataset); err != nil {
		t.Fatal(err)
	}
	ran := false
	err := db.Update(context.Background(), func(tx *Tx) error {
		if err := tx.ReserveBudget(BudgetRequest{ID: "run-2", Receiver: "operator", Loss: dp.Loss{Rho: 0.5},
			Reads: []DatasetRead{{Dataset: products.Dataset}}}); err != nil {
			return err
		}
		ran = true
		return nil
	})
	wantCode(t, "overspend", err, cleanroom.EConflict, `dataset "r1/bank.products"`, "rho cap 1,", "spent 0,", "reserved 0.6,", "requested 0.5")
	if _, hint := cleanroom.ErrorMessage(err); hint == "" {
		t.Error("overspend error has no hint")
	}
	if ran {
		t.Error("the release ran although its reservation was refused")
	}
	err = db.View(context.Background(), func(tx *Tx) error { _, err := tx.Reservation("run-2"); return err })
	wantCode(t, "refused reservation", err, cleanroom.ENotFound)

	update(t, db, func(tx *Tx) error { return tx.CommitReservation("run-1") })
	if err := reserve(db, "run-3", "operator", 0.4, products.Dataset); err != nil {
		t.Errorf("reserving exactly the rest of the cap: %v", err)
	}
	err = reserve(db, "run-4", "operator", 1e-12, products.Dataset)
	wantCode(t, "one quantum over", err, cleanroom.EConflict, "spent 0.6,", "reserved 0.4,", "requested 1e-12")

	// The selection's ε and δ are capped too.
	err = db.Update(context.Background(), func(tx *Tx) error {
		return tx.ReserveBudget(BudgetRequest{ID: "run-5", Receiver: "operator", Loss: dp.Loss{Epsilon: 0.5, Delta: 2e-8},
			Reads: []DatasetRead{{Dataset: products.Dataset}}})
	})
	wantCode(t, "delta overspend", err, cleanroom.EConflict, "delta cap 1e-08", "requested 2e-08")
	u := usageOf(t, db, products.Dataset)["dataset//all"]
	if u.Spent != (dp.Loss{Rho: 0.6}) || u.Reserved != (dp.Loss{Rho: 0.4}) || u.Cap != products.Cap {
		t.Errorf("usage = %+v", u)
	}
	checkLedger(t, db)
}

// Losses are charged in exact quanta: ten releases of ρ = 0.1 fit a cap of
// 1 exactly, and the eleventh does not.
func TestReserveExactQuanta(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	for i := range 10 {
		if err := reserve(db, fmt.Sprintf("run-%d", i), "operator", 0.1, products.Dataset); err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
	}
	err := reserve(db, "run-10", "operator", 0.1, products.Dataset)
	wantCode(t, "eleventh", err, cleanroom.EConflict, "reserved 1,")
}

// A failed reservation leaves the transaction as it was, so the caller can
// record the refusal and commit without leaving half a reservation.
func TestReserveAtomicWithinTransaction(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	other := products
	other.Dataset = "r1/operator.subscribers"
	other.Party = "operator"
	setBudget(t, db, other)
	if err := reserve(db, "run-1", "bank", 0.9, other.Dataset); err != nil {
		t.Fatal(err)
	}
	var reserveErr error
	update(t, db, func(tx *Tx) error {
		reserveErr = tx.ReserveBudget(BudgetRequest{ID: "run-2", Receiver: "bank", Loss: dp.Loss{Rho: 0.5},
			Reads: []DatasetRead{{Dataset: products.Dataset}, {Dataset: other.Dataset}}})
		return nil // commit anyway, as a caller recording the refusal would
	})
	wantCode(t, "join over an exhausted dataset", reserveErr, cleanroom.EConflict, `dataset "r1/operator.subscribers"`)
	if u := usageOf(t, db, products.Dataset)["dataset//all"]; u.Reserved != (dp.Loss{}) {
		t.Errorf("the refused join left %+v reserved on the other dataset", u.Reserved)
	}
	err := db.View(context.Background(), func(tx *Tx) error { _, err := tx.Reservation("run-2"); return err })
	wantCode(t, "refused reservation", err, cleanroom.ENotFound)
	checkLedger(t, db)

	// A join that fits is charged to both datasets.
	if err := reserve(db, "run-3", "bank", 0.1, products.Dataset, other.Dataset); err != nil {
		t.Fatal(err)
	}
	var res *Reservation
	update(t, db, func(tx *Tx) (err error) { res, err = tx.Reservation("run-3"); return err })
	if strings.Join(res.Datasets, ",") != "r1/bank.products,r1/operator.subscribers" || res.State != Reserved || res.Loss.Rho != 0.1 {
		t.Errorf("Reservation() = %+v", res)
	}
}

// 50 concurrent reservations never take more than the cap: with ρ = 0.07
// each against a cap of 1, exactly 14 succeed. Then 50 concurrent
// reserve-and-settle runs keep spent + reserved within the cap, and spent
// is what the committed runs took. How many get a reservation depends on
// the order the writers are served in: writers are queued first come,
// first served, so the 50 reservations are all decided before the first
// settle, and later ones do not reuse what a release gives back.
func TestConcurrentReservations(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range 50 {
		wg.Go(func() { errs[i] = reserve(db, fmt.Sprintf("run-%d", i), "operator", 0.07, products.Dataset) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch cleanroom.ErrorCode(err) {
		case "":
			ok++
		case cleanroom.EConflict:
		default:
			t.Errorf("reservation %d: %v", i, err)
		}
	}
	if ok != 14 {
		t.Errorf("%d of 50 reservations of 0.07 succeeded against a cap of 1, want 14", ok)
	}
	u := usageOf(t, db, products.Dataset)["dataset//all"]
	if u.Reserved.Rho != 0.98 || u.Spent.Rho != 0 {
		t.Errorf("usage = %+v, want 0.98 reserved", u)
	}

	second := products
	second.Dataset = "r2/bank.products"
	setBudget(t, db, second)
	var committed atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			id := fmt.Sprintf("mix-%d", i)
			err := reserve(db, id, "operator", 0.15, second.Dataset)
			if err != nil {
				if cleanroom.ErrorCode(err) != cleanroom.EConflict {
					t.Errorf("reservation %s: %v", id, err)
				}
				return
			}
			err = db.Update(context.Background(), func(tx *Tx) error {
				if i%3 == 0 {
					return tx.ReleaseReservation(id)
				}
				return tx.CommitReservation(id)
			})
			if err != nil {
				t.Errorf("settle %s: %v", id, err)
			} else if i%3 != 0 {
				committed.Add(1)
			}
		})
	}
	wg.Wait()
	u = usageOf(t, db, second.Dataset)["dataset//all"]
	if want := 0.15 * float64(committed.Load()); u.Reserved.Rho != 0 || u.Spent.Rho > 1 || math.Abs(u.Spent.Rho-want) > 1e-9 {
		t.Errorf("usage after concurrent runs = %+v, want %d committed runs' %g ≤ 1 spent, nothing reserved", u, committed.Load(), want)
	}
	checkLedger(t, db)
}

// A crash between reserve and commit leaves an open reservation that
// still counts against the cap after restart, and can then be settled.
// Two crashes are simulated: closing the database and reopening it, and
// copying its files while it is open (as a power cut would leave them).
func TestCrashBetweenReserveAndCommit(t *testing.T) {
	for _, crash := range []string{"close", "copy"} {
		t.Run(crash, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cleanroom.db")
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			setBudget(t, db, products)
			for _, id := range []string{"done", "lost", "unsure"} {
				if err := reserve(db, id, "operator", 0.3, products.Dataset); err != nil {
					t.Fatal(err)
				}
			}
			update(t, db, func(tx *Tx) error { return tx.CommitReservation("done") })
			switch crash {
			case "close":
				db.Close()
			case "copy":
				copied := filepath.Join(t.TempDir(), "cleanroom.db")
				for _, suffix := range []string{"", "-wal"} {
					copyFile(t, path+suffix, copied+suffix)
				}
				db.Close()
				path = copied
			}

			db = openTestDB(t, path)
			checkLedger(t, db)
			var open []Reservation
			update(t, db, func(tx *Tx) (err error) { open, err = tx.OpenReservations(); return err })
			if len(open) != 2 || open[0].ID != "lost" || open[1].ID != "unsure" {
				t.Fatalf("OpenReservations() = %+v, want lost and unsure", open)
			}
			u := usageOf(t, db, products.Dataset)["dataset//all"]
			if u.Spent.Rho != 0.3 || u.Reserved.Rho != 0.6 {
				t.Errorf("usage after restart = %+v, want 0.3 spent, 0.6 reserved", u)
			}
			err = reserve(db, "new", "operator", 0.2, products.Dataset)
			wantCode(t, "reserve past open reservations", err, cleanroom.EConflict, "reserved 0.6")

			// Recovery: the release of "lost" never left the room, so it is
			// released; "unsure" may have, so it is committed.
			update(t, db, func(tx *Tx) error {
				if err := tx.ReleaseReservation("lost"); err != nil {
					return err
				}
				return tx.CommitReservation("unsure")
			})
			u = usageOf(t, db, products.Dataset)["dataset//all"]
			if u.Spent.Rho != 0.6 || u.Reserved.Rho != 0 {
				t.Errorf("usage after recovery = %+v, want 0.6 spent", u)
			}
			if err := reserve(db, "new", "operator", 0.4, products.Dataset); err != nil {
				t.Errorf("reserve after recovery: %v", err)
			}
			checkLedger(t, db)
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSettleOnce(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	for _, id := range []string{"a", "b"} {
		if err := reserve(db, id, "operator", 0.1, products.Dataset); err != nil {
			t.Fatal(err)
		}
	}
	err := reserve(db, "a", "operator", 0.1, products.Dataset)
	wantCode(t, "duplicate ID", err, cleanroom.EConflict, `reservation "a" already exists`)
	update(t, db, func(tx *Tx) error { return tx.CommitReservation("a") })
	update(t, db, func(tx *Tx) error { return tx.ReleaseReservation("b") })
	for _, tc := range []struct {
		name string
		fn   func(*Tx) error
		code string
		want string
	}{
		{"commit twice", func(tx *Tx) error { return tx.CommitReservation("a") }, cleanroom.EConflict, "already committed"},
		{"release committed", func(tx *Tx) error { return tx.ReleaseReservation("a") }, cleanroom.EConflict, "already committed"},
		{"commit released", func(tx *Tx) error { return tx.CommitReservation("b") }, cleanroom.EConflict, "already released"},
		{"unknown", func(tx *Tx) error { return tx.CommitReservation("zzz") }, cleanroom.ENotFound, "not found"},
	} {
		wantCode(t, tc.name, db.Update(context.Background(), tc.fn), tc.code, tc.want)
	}
	var res *Reservation
	update(t, db, func(tx *Tx) (err error) { res, err = tx.Reservation("a"); return err })
	if res.State != Committed || res.SettledAt == nil {
		t.Errorf("Reservation(a) = %+v", res)
	}
	for _, tc := range []struct {
		name string
		req  BudgetRequest
		want string
	}{
		{"no ID", BudgetRequest{Receiver: "x", Loss: dp.Loss{Rho: 0.1}, Reads: []DatasetRead{{Dataset: products.Dataset}}}, "required"},
		{"zero loss", BudgetRequest{ID: "z", Receiver: "x", Reads: []DatasetRead{{Dataset: products.Dataset}}}, "loss is zero"},
		{"NaN loss", BudgetRequest{ID: "z", Receiver: "x", Loss: dp.Loss{Rho: nan()}, Reads: []DatasetRead{{Dataset: products.Dataset}}}, "finite"},
		{"no reads", BudgetRequest{ID: "z", Receiver: "x", Loss: dp.Loss{Rho: 0.1}}, "reads no dataset"},
		{"twice", BudgetRequest{ID: "z", Receiver: "x", Loss: dp.Loss{Rho: 0.1}, Reads: []DatasetRead{{Dataset: products.Dataset}, {Dataset: products.Dataset}}}, "listed twice"},
	} {
		err := db.Update(context.Background(), func(tx *Tx) error { return tx.ReserveBudget(tc.req) })
		wantCode(t, tc.name, err, cleanroom.EInvalid, tc.want)
	}
	checkLedger(t, db)
}

// The schema itself refuses overshoot and rewriting settled reservations,
// whatever the Go code does.
func TestSchemaRefusesOvershoot(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	if err := reserve(db, "a", "operator", 0.5, products.Dataset); err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error { return tx.CommitReservation("a") })
	for _, tc := range []struct{ stmt, want string }{
		{`UPDATE dp_usage SET rho_reserved = rho_cap - rho_spent + 1`, "CHECK constraint failed"},
		{`UPDATE dp_usage SET rho_spent = -1`, "CHECK constraint failed"},
		{`UPDATE dp_reservations SET state = 'released', settled_at = 'x' WHERE id = 'a'`, "settled, once"},
		{`UPDATE dp_reservations SET rho = 1 WHERE id = 'a'`, "settled, once"},
		{`DELETE FROM dp_reservations`, "never deleted"},
		{`DELETE FROM dp_charges`, "immutable"},
		{`INSERT INTO dp_charges (reservation, scope, owner, subject, period) VALUES ('a', 'dataset', 'r1/bank.products', '', 'all')`, ""},
	} {
		err := db.Update(context.Background(), func(tx *Tx) error {
			_, err := tx.tx.ExecContext(tx.ctx, tc.stmt)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.stmt, err, tc.want)
		}
	}
	// Lowering a cap below what is spent is refused too.
	lower := products
	lower.Cap.Rho = 0.4
	err := db.Update(context.Background(), func(tx *Tx) error { return tx.SetBudget(&lower) })
	wantCode(t, "cap below spent", err, cleanroom.EConflict, "below what a period has already used")
	checkLedger(t, db)
}

// A monthly budget gives a fresh allowance per month of event time: data
// about new events can be queried again, data about old events stays under
// its month's cumulative cap.
func TestRenewal(t *testing.T) {
	db := openTestDB(t, "")
	monthly := products
	monthly.Renewal = RenewMonthly
	setBudget(t, db, monthly)
	nov := DatasetRead{Dataset: monthly.Dataset, EventsFrom: date(2026, 11, 1), EventsTo: date(2026, 12, 1)}
	dec := DatasetRead{Dataset: monthly.Dataset, EventsFrom: date(2026, 12, 1), EventsTo: date(2027, 1, 1)}
	both := DatasetRead{Dataset: monthly.Dataset, EventsFrom: date(2026, 11, 15), EventsTo: date(2026, 12, 15)}
	res := func(id string, rho float64, rd DatasetRead) error {
		return db.Update(context.Background(), func(tx *Tx) error {
			return tx.ReserveBudget(BudgetRequest{ID: id, Receiver: "operator", Loss: dp.Loss{Rho: rho}, Reads: []DatasetRead{rd}})
		})
	}
	if err := res("nov-1", 0.8, nov); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "November again", res("nov-2", 0.3, nov), cleanroom.EConflict, "for events in 2026-11", "reserved 0.8")
	if err := res("dec-1", 0.8, dec); err != nil {
		t.Errorf("December, a new period: %v", err)
	}
	if err := res("both-1", 0.2, both); err != nil {
		t.Errorf("November and December, 0.2 left in each: %v", err)
	}
	wantCode(t, "both again", res("both-2", 1e-12, both), cleanroom.EConflict, "for events in 2026-11")
	wantCode(t, "no window", res("x", 0.1, DatasetRead{Dataset: monthly.Dataset}), cleanroom.EInvalid, "renews monthly", "event window")
	u := usageOf(t, db, monthly.Dataset)
	if u["dataset//2026-11"].Reserved.Rho != 1 || u["dataset//2026-12"].Reserved.Rho != 1 || len(u) != 2 {
		t.Errorf("usage = %+v", u)
	}
	checkLedger(t, db)
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestPeriodsOf(t *testing.T) {
	for _, tc := range []struct {
		r        Renewal
		from, to time.Time
		want     string
	}{
		{RenewNever, time.Time{}, time.Time{}, "all"},
		{RenewMonthly, date(2026, 11, 1), date(2026, 12, 1), "2026-11"},
		{RenewMonthly, date(2026, 11, 30), date(2027, 2, 1).Add(time.Nanosecond), "2026-11,2026-12,2027-01,2027-02"},
		{RenewQuarterly, date(2026, 2, 1), date(2026, 7, 1), "2026-Q1,2026-Q2"},
		{RenewQuarterly, date(2026, 12, 31), date(2027, 1, 2), "2026-Q4,2027-Q1"},
		{RenewYearly, date(2025, 6, 1), date(2027, 1, 1), "2025,2026"},
	} {
		got, err := periodsOf(tc.r, DatasetRead{EventsFrom: tc.from, EventsTo: tc.to}, "test")
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("periodsOf(%s, %v, %v) = %v, %v, want %s", tc.r, tc.from, tc.to, got, err, tc.want)
		}
	}
	for _, rd := range []DatasetRead{
		{EventsFrom: date(2026, 1, 1)},
		{EventsFrom: date(2026, 2, 1), EventsTo: date(2026, 1, 1)},
		{EventsFrom: date(1900, 1, 1), EventsTo: date(2026, 1, 1)},
	} {
		if got, err := periodsOf(RenewMonthly, rd, "test"); err == nil {
			t.Errorf("periodsOf(monthly, %v, %v) = %v, want error", rd.EventsFrom, rd.EventsTo, got)
		}
	}
}

// A receiver's limit is a sub-limit within the dataset's cap.
func TestReceiverLimit(t *testing.T) {
	db := openTestDB(t, "")
	setBudget(t, db, products)
	update(t, db, func(tx *Tx) error { return tx.SetReceiverLimit(products.Dataset, "operator", dp.Loss{Rho: 0.3}) })
	if err := reserve(db, "op-1", "operator", 0.2, products.Dataset); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "operator past its limit", reserve(db, "op-2", "operator", 0.2, products.Dataset),
		cleanroom.EConflict, `dataset "r1/bank.products", receiver "operator"`, "rho cap 0.3", "reserved 0.2")
	if err := reserve(db, "bank-1", "bank", 0.7, products.Dataset); err != nil {
		t.Errorf("bank within the dataset cap: %v", err)
	}
	wantCode(t, "bank past the dataset cap", reserve(db, "bank-2", "bank", 0.2, products.Dataset),
		cleanroom.EConflict, `dataset "r1/bank.products":`, "reserved 0.9")
	err := db.Update(context.Background(), func(tx *Tx) error {
		return tx.SetReceiverLimit(products.Dataset, "operator", dp.Loss{Rho: 0.1})
	})
	wantCode(t, "limit below used", err, cleanroom.EConflict, `receiver limit of dataset "r1/bank.products" for "operator"`)
	err = db.Update(context.Background(), func(tx *Tx) error { return tx.SetReceiverLimit("nope", "operator", dp.Loss{Rho: 0.1}) })
	wantCode(t, "limit on missing budget", err, cleanroom.ENotFound)
	checkLedger(t, db)
}

// A party's cap on a source bounds every room's dataset drawn from it.
func TestPartyCap(t *testing.T) {
	db := openTestDB(t, "")
	r1, r2 := products, products
	r1.Source, r2.Source = "customers", "customers"
	r2.Dataset = "r2/bank.products"
	setBudget(t, db, r1)
	setBudget(t, db, r2)
	update(t, db, func(tx *Tx) error { return tx.SetPartyCap("bank", "customers", dp.Loss{Rho: 1}, RenewNever) })
	if err := reserve(db, "a", "operator", 0.6, r1.Dataset); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "second room past the party cap", reserve(db, "b", "retailer", 0.6, r2.Dataset),
		cleanroom.EConflict, `party "bank"'s cap on "customers"`, "reserved 0.6", "requested 0.6")
	if err := reserve(db, "c", "retailer", 0.4, r2.Dataset); err != nil {
		t.Errorf("second room within the party cap: %v", err)
	}
	var us []Usage
	update(t, db, func(tx *Tx) (err error) { us, err = tx.PartyUsage("bank", "customers"); return err })
	if len(us) != 1 || us[0].Reserved.Rho != 1 {
		t.Errorf("PartyUsage = %+v", us)
	}
	err := db.Update(context.Background(), func(tx *Tx) error {
		return tx.SetPartyCap("bank", "customers", dp.Loss{Rho: 2}, RenewYearly)
	})
	wantCode(t, "party cap renewal change", err, cleanroom.EConflict, "cannot change")
	checkLedger(t, db)
}
