package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

type sendCmd struct {
	Brokers  []string `arg:"--brokers,env:ORDERFLOW_BROKERS,required" help:"Kafka bootstrap brokers"`
	Registry string   `arg:"--registry,env:ORDERFLOW_REGISTRY,required" help:"schema registry URL"`
	registryFlags
	Prefix string `arg:"--prefix,env:ORDERFLOW_TOPIC_PREFIX" default:"orders." help:"topic prefix"`
	File   string `arg:"positional,required" help:"JSON file with the OrderRequested fields as the schema names them (order_id, items[].price_cents...; Go field names such as OrderID work too), - for stdin; an unknown field is an error"`
	kafkaFlags
}

// validate checks the Kafka security flags before anything connects.
func (c *sendCmd) validate() error {
	if errs := c.kafkaFlags.validate(); len(errs) > 0 {
		return configError{errors.New(strings.Join(errs, "; "))}
	}
	return nil
}

func (c *sendCmd) run(ctx context.Context) error {
	kafkaOpts, err := prologue(c)
	if err != nil {
		return err
	}
	f := os.Stdin
	if c.File != "-" {
		if f, err = os.Open(c.File); err != nil {
			return configError{fmt.Errorf("reading the order: %w", err)}
		}
		defer f.Close()
	}
	o, err := readOrder(f)
	if err != nil {
		return err
	}
	reg, err := c.registryFlags.client(c.Registry)
	if err != nil {
		return err
	}
	p, err := producer.New(ctx, producer.Config{Brokers: c.Brokers, Registry: reg, Topology: topology.Topology{Prefix: c.Prefix},
		LookupSchemas: !c.RegisterSchemas, Opts: kafkaOpts})
	if err != nil {
		return registryError(err)
	}
	defer p.Close()
	if err := p.RequestOrder(ctx, o); err != nil {
		return err
	}
	fmt.Printf("sent order %s attempt %d\n", o.OrderID, max(o.Attempt, 1))
	return nil
}

// orderJSON is an OrderRequested as JSON with the field names of schemas/order_requested.avsc.
type orderJSON struct {
	OrderID        string            `json:"order_id"`
	Attempt        int               `json:"attempt"`
	Provider       string            `json:"provider"`
	Buyer          buyerJSON         `json:"buyer"`
	Items          []itemJSON        `json:"items"`
	Currency       string            `json:"currency"`
	PaymentRef     string            `json:"payment_ref"`
	ShopperIP      string            `json:"shopper_ip"`
	RequestedAt    time.Time         `json:"requested_at"`
	Deadline       time.Time         `json:"deadline"`
	ReplacesCartID string            `json:"replaces_cart_id"`
	ReplayID       string            `json:"replay_id"`
	ReplayCount    int               `json:"replay_count"`
	Attributes     map[string]string `json:"attributes"`
	Billing        *buyerJSON        `json:"billing"`
}

// buyerJSON and itemJSON have exactly the fields of schemas.Buyer and schemas.Item (so they
// convert), tagged with the schema's names.
type buyerJSON struct {
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	Address1     string `json:"address1"`
	Address2     string `json:"address2"`
	City         string `json:"city"`
	ProvinceCode string `json:"province_code"`
	PostalCode   string `json:"postal_code"`
	CountryCode  string `json:"country_code"`
}

type itemJSON struct {
	Merchant        string `json:"merchant"`
	ProductID       string `json:"product_id"`
	Quantity        int    `json:"quantity"`
	PriceCents      int64  `json:"price_cents"`
	Name            string `json:"name"`
	SKUGroupID      string `json:"sku_group_id"`
	CountryOfOrigin string `json:"country_of_origin"`
}

// readOrder reads one order request as JSON. Field names are the schema's (order_id,
// price_cents); the Go field names `orderflow send` documented before (OrderID, PriceCents) are
// accepted too, as any spelling that differs only in case and underscores. A field the schema
// does not have is a configError naming it (the attributes map takes any key).
func readOrder(r io.Reader) (schemas.OrderRequested, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return schemas.OrderRequested{}, configError{fmt.Errorf("reading the order: %w", err)}
	}
	raw, err := schemaKeys(raw, reflect.TypeFor[orderJSON](), "")
	if err != nil {
		return schemas.OrderRequested{}, configError{fmt.Errorf("reading the order: %w", err)}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return schemas.OrderRequested{}, err
	}
	var o orderJSON
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return schemas.OrderRequested{}, configError{fmt.Errorf("reading the order: %w", err)}
	}
	req := schemas.OrderRequested{
		OrderID: o.OrderID, Attempt: o.Attempt, Provider: o.Provider, Buyer: schemas.Buyer(o.Buyer),
		Currency: o.Currency, PaymentRef: o.PaymentRef, ShopperIP: o.ShopperIP, RequestedAt: o.RequestedAt,
		Deadline: o.Deadline, ReplacesCartID: o.ReplacesCartID, ReplayID: o.ReplayID, ReplayCount: o.ReplayCount,
		Attributes: o.Attributes,
	}
	for _, it := range o.Items {
		req.Items = append(req.Items, schemas.Item(it))
	}
	if o.Billing != nil {
		b := schemas.Buyer(*o.Billing)
		req.Billing = &b
	}
	return req, nil
}

// schemaKeys returns v (decoded JSON for a value of type t) with every object key of a struct
// renamed to its field's json tag, matching without case and underscores; a key no field
// matches, or two keys for one field, is an error naming it by its path (items[0].colour).
func schemaKeys(v any, t reflect.Type, path string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return v, nil // the decoder reports the type
		}
		for i := range arr {
			var err error
			if arr[i], err = schemaKeys(arr[i], t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, err
			}
		}
		return arr, nil
	case t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]():
		return v, nil // scalars, times and maps (attributes) keep their keys
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	fields := map[string]reflect.StructField{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("json")
		fields[fold(name)] = f
		names = append(names, name)
	}
	out := make(map[string]any, len(obj))
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		f, ok := fields[fold(k)]
		if !ok {
			return nil, fmt.Errorf("unknown field %q: the %s fields are %s", join(path, k), what(path), strings.Join(names, ", "))
		}
		name := f.Tag.Get("json")
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("field %q given twice (as %q and another spelling)", join(path, name), k)
		}
		val, err := schemaKeys(obj[k], f.Type, join(path, name))
		if err != nil {
			return nil, err
		}
		out[name] = val
	}
	return out, nil
}

func fold(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func what(path string) string {
	if path == "" {
		return "OrderRequested"
	}
	return path
}
