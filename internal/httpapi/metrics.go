package httpapi

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refusals *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, db *sqlite.DB) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cleanroom_http_requests_total",
			Help: "API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cleanroom_http_request_duration_seconds",
			Help:    "API request latency by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cleanroom_refusals_total",
			Help: "Refused requests by action and error code; each is also an audit entry.",
		}, []string{"action", "code"}),
	}
	reg.MustRegister(m.requests, m.duration, m.refusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&tableCollector{db: db})
	return m
}

func (m *metrics) observe(rt *Route, status int, d time.Duration) {
	m.requests.WithLabelValues(rt.Pattern, rt.Method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(rt.Pattern).Observe(d.Seconds())
}

// tableCollector reports the size of the metadata tables at scrape time.
type tableCollector struct{ db *sqlite.DB }

var tableRows = prometheus.NewDesc("cleanroom_records", "Records in the metadata database by kind.", []string{"kind"}, nil)

func (t *tableCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tableRows }

func (t *tableCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t.db.View(ctx, func(tx *sqlite.Tx) error {
		for _, table := range []string{"parties", "rooms", "tokens", "grants", "audit_log"} {
			n, err := tx.Count(table)
			if err != nil {
				return err
			}
			ch <- prometheus.MustNewConstMetric(tableRows, prometheus.GaugeValue, float64(n), table)
		}
		return nil
	})
}
