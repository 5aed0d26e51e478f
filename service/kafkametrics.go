package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderflow/orderflow/internal/promreg"
)

// kafkaRequests counts the requests every franz-go client of the service writes to the brokers,
// by client (producer, a role's consumer) and request (Produce, Fetch, OffsetCommit, Heartbeat,
// ...): what the brokers are asked per order, beside kprom's bytes (orderflow_kafka_*).
type kafkaRequests struct {
	client string
	total  *prometheus.CounterVec
}

func newKafkaRequests(reg prometheus.Registerer, client string) (*kafkaRequests, error) {
	total, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_kafka_requests_total",
		Help: "Requests written to the Kafka brokers, by client (producer, or the role whose consumer it is) and request (Produce, Fetch, OffsetCommit...)."},
		[]string{"client", "request"}))
	if err != nil {
		return nil, err
	}
	return &kafkaRequests{client: client, total: total}, nil
}

var _ kgo.HookBrokerWrite = (*kafkaRequests)(nil)

func (k *kafkaRequests) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		k.total.WithLabelValues(k.client, kmsg.NameForKey(key)).Inc()
	}
}
