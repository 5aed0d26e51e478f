package main

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/schemas"
)

func TestReadOrder(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := schemas.OrderRequested{OrderID: "o-1", Attempt: 2, Provider: "digitalriver", Currency: "EUR", PaymentRef: "tok_visa",
		ShopperIP: "192.0.2.1", RequestedAt: at, Deadline: at.Add(time.Hour), ReplacesCartID: "cart-0",
		Buyer:      schemas.Buyer{FirstName: "Ada", PostalCode: "94105", CountryCode: "US"},
		Items:      []schemas.Item{{Merchant: "digitalriver", ProductID: "sku-1", Quantity: 2, PriceCents: 1999, SKUGroupID: "g-1", CountryOfOrigin: "DE"}},
		Attributes: map[string]string{"orderflow.replay_of": "x", "Some_Key": "y"},
		Billing:    &schemas.Buyer{City: "Berlin", CountryCode: "DE"},
	}
	// The schema's names, as in schemas/order_requested.avsc.
	schemaForm := `{"order_id":"o-1","attempt":2,"provider":"digitalriver","currency":"EUR","payment_ref":"tok_visa",
		"shopper_ip":"192.0.2.1","requested_at":"2026-01-02T03:04:05Z","deadline":"2026-01-02T04:04:05Z","replaces_cart_id":"cart-0",
		"buyer":{"first_name":"Ada","postal_code":"94105","country_code":"US"},
		"items":[{"merchant":"digitalriver","product_id":"sku-1","quantity":2,"price_cents":1999,"sku_group_id":"g-1","country_of_origin":"DE"}],
		"attributes":{"orderflow.replay_of":"x","Some_Key":"y"},"billing":{"city":"Berlin","country_code":"DE"}}`
	// The Go field names `orderflow send` documented before.
	goForm := `{"OrderID":"o-1","Attempt":2,"Provider":"digitalriver","Currency":"EUR","PaymentRef":"tok_visa",
		"ShopperIP":"192.0.2.1","RequestedAt":"2026-01-02T03:04:05Z","Deadline":"2026-01-02T04:04:05Z","ReplacesCartID":"cart-0",
		"Buyer":{"FirstName":"Ada","PostalCode":"94105","CountryCode":"US"},
		"Items":[{"Merchant":"digitalriver","ProductID":"sku-1","Quantity":2,"PriceCents":1999,"SKUGroupID":"g-1","CountryOfOrigin":"DE"}],
		"Attributes":{"orderflow.replay_of":"x","Some_Key":"y"},"Billing":{"City":"Berlin","CountryCode":"DE"}}`
	for _, tc := range []struct {
		name, in string
		err      string // "" = want
	}{
		{name: "schema names", in: schemaForm},
		{name: "Go field names", in: goForm},
		{name: "null optional fields", in: `{"order_id":"o-1","payment_ref":null,"deadline":null,"billing":null}`},
		{name: "unknown top-level field", in: `{"order_id":"o-1","colour":"red"}`, err: `unknown field "colour"`},
		{name: "unknown item field", in: `{"order_id":"o-1","items":[{"product_id":"a"},{"price":5}]}`, err: `unknown field "items[1].price"`},
		{name: "unknown buyer field", in: `{"buyer":{"zip":"94105"}}`, err: `unknown field "buyer.zip"`},
		{name: "unknown billing field", in: `{"billing":{"street":"x"}}`, err: `unknown field "billing.street"`},
		{name: "field given twice", in: `{"order_id":"a","OrderID":"b"}`, err: `"order_id" given twice`},
		{name: "wrong type", in: `{"items":[{"quantity":"two"}]}`, err: "quantity"},
		{name: "not JSON", in: `order_id: o-1`, err: "reading the order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readOrder(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || exitCode(err) != 2 {
					t.Fatalf("err %v (exit code %d), want one containing %q, exit code 2", err, exitCode(err), tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.name, "null") {
				if got.OrderID != "o-1" || got.PaymentRef != "" || !got.Deadline.IsZero() || got.Billing != nil {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// Every field of the OrderRequested schema (and of its Buyer and Item records) is read by send.
func TestReadOrderKnowsTheSchema(t *testing.T) {
	b, err := os.ReadFile("../../schemas/order_requested.avsc")
	if err != nil {
		t.Fatal(err)
	}
	type field struct {
		Name string
		Type json.RawMessage
	}
	var rec struct{ Fields []field }
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	names := func(fs []field) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	tags := func(v any) []string {
		var out []string
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			out = append(out, typ.Field(i).Tag.Get("json"))
		}
		return out
	}
	var buyer, item struct{ Fields []field }
	for _, f := range rec.Fields {
		switch f.Name {
		case "buyer":
			err = json.Unmarshal(f.Type, &buyer)
		case "items":
			var arr struct{ Items json.RawMessage }
			if err = json.Unmarshal(f.Type, &arr); err == nil {
				err = json.Unmarshal(arr.Items, &item)
			}
		}
		if err != nil {
			t.Fatal(errors.Join(errors.New(f.Name), err))
		}
	}
	for _, c := range []struct {
		what         string
		schema, code []string
	}{
		{"OrderRequested", names(rec.Fields), tags(orderJSON{})},
		{"Buyer", names(buyer.Fields), tags(buyerJSON{})},
		{"Item", names(item.Fields), tags(itemJSON{})},
	} {
		if len(c.schema) == 0 || !reflect.DeepEqual(c.schema, c.code) {
			t.Errorf("%s: schema fields %v, send reads %v", c.what, c.schema, c.code)
		}
	}
}
