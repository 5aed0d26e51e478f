package dlq

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/schemas"
)

// Patch corrects fields of a dead-lettered request before it is replayed. It is a list of
// field=value settings, applied in order:
//
//	payment_ref                                     the payment token or source id (a secret)
//	first_name last_name email phone                the buyer (also as buyer.<field>)
//	address1 address2 city province_code postal_code country_code   (aliases province, postal, zip, country)
//	shopper_ip currency
//	deadline                                        RFC 3339, or "none" to clear it
//	items                                           a JSON array of {"Merchant","ProductID","Quantity","PriceCents"}
//	item.<n>.product_id | quantity | price_cents | merchant    item n (from 0) of the replayed items
type Patch struct {
	sets []setting
}

type setting struct{ field, value string }

var buyerFields = map[string]func(*schemas.Buyer) *string{
	"first_name":    func(b *schemas.Buyer) *string { return &b.FirstName },
	"last_name":     func(b *schemas.Buyer) *string { return &b.LastName },
	"email":         func(b *schemas.Buyer) *string { return &b.Email },
	"phone":         func(b *schemas.Buyer) *string { return &b.Phone },
	"address1":      func(b *schemas.Buyer) *string { return &b.Address1 },
	"address2":      func(b *schemas.Buyer) *string { return &b.Address2 },
	"city":          func(b *schemas.Buyer) *string { return &b.City },
	"province_code": func(b *schemas.Buyer) *string { return &b.ProvinceCode },
	"postal_code":   func(b *schemas.Buyer) *string { return &b.PostalCode },
	"country_code":  func(b *schemas.Buyer) *string { return &b.CountryCode },
}

var aliases = map[string]string{"province": "province_code", "postal": "postal_code", "zip": "postal_code", "country": "country_code"}

// ParsePatch parses field=value settings (see Patch).
func ParsePatch(settings []string) (Patch, error) {
	var p Patch
	for _, s := range settings {
		field, value, ok := strings.Cut(s, "=")
		field = strings.ToLower(strings.TrimSpace(field))
		if !ok || field == "" {
			return Patch{}, fmt.Errorf("dlq: patch %q: want field=value", s)
		}
		field = strings.TrimPrefix(field, "buyer.")
		if a, ok := aliases[field]; ok {
			field = a
		}
		if err := checkField(field, value); err != nil {
			return Patch{}, err
		}
		p.sets = append(p.sets, setting{field, value})
	}
	return p, nil
}

func checkField(field, value string) error {
	switch field {
	case "payment_ref", "shopper_ip", "currency":
		return nil
	case "deadline":
		if value == "none" || value == "" {
			return nil
		}
		if _, err := time.Parse(time.RFC3339, value); err != nil {
			return fmt.Errorf("dlq: patch deadline: %w", err)
		}
		return nil
	case "items":
		var items []schemas.Item
		if err := json.Unmarshal([]byte(value), &items); err != nil {
			return fmt.Errorf("dlq: patch items: %w", err)
		}
		return nil
	}
	if _, ok := buyerFields[field]; ok {
		return nil
	}
	if n, f, ok := itemField(field); ok {
		if n < 0 {
			return fmt.Errorf("dlq: patch %s: negative item index", field)
		}
		switch f {
		case "product_id", "merchant":
			return nil
		case "quantity", "price_cents":
			if _, err := strconv.ParseInt(value, 10, 64); err != nil {
				return fmt.Errorf("dlq: patch %s: %w", field, err)
			}
			return nil
		}
	}
	return fmt.Errorf("dlq: patch: unknown field %q", field)
}

// itemField splits "item.<n>.<field>".
func itemField(field string) (int, string, bool) {
	rest, ok := strings.CutPrefix(field, "item.")
	if !ok {
		return 0, "", false
	}
	ns, f, ok := strings.Cut(rest, ".")
	n, err := strconv.Atoi(ns)
	return n, f, ok && err == nil
}

// Empty reports whether p changes nothing.
func (p Patch) Empty() bool { return len(p.sets) == 0 }

// Fields returns the names of the patched fields, sorted and without repeats; safe to log and
// audit (values are not).
func (p Patch) Fields() []string {
	var out []string
	for _, s := range p.sets {
		if !slices.Contains(out, s.field) {
			out = append(out, s.field)
		}
	}
	slices.Sort(out)
	return out
}

// Has reports whether p sets field, or any field of a group: "buyer", "items".
func (p Patch) Has(field string) bool {
	return slices.ContainsFunc(p.sets, func(s setting) bool {
		switch field {
		case "buyer":
			_, ok := buyerFields[s.field]
			return ok
		case "items":
			return s.field == "items" || strings.HasPrefix(s.field, "item.")
		}
		return s.field == field
	})
}

// Apply applies p to req and checks the result is still an order the worker accepts.
func (p Patch) Apply(req *schemas.OrderRequested) error {
	items := slices.Clone(req.Items)
	for _, s := range p.sets {
		if f, ok := buyerFields[s.field]; ok {
			*f(&req.Buyer) = s.value
			continue
		}
		switch s.field {
		case "payment_ref":
			req.PaymentRef = s.value
		case "shopper_ip":
			req.ShopperIP = s.value
		case "currency":
			req.Currency = s.value
		case "deadline":
			req.Deadline = time.Time{}
			if s.value != "none" && s.value != "" {
				req.Deadline, _ = time.Parse(time.RFC3339, s.value)
			}
		case "items":
			items = nil
			_ = json.Unmarshal([]byte(s.value), &items)
		default:
			n, f, _ := itemField(s.field)
			if n >= len(items) {
				return fmt.Errorf("dlq: patch %s: the replay has %d items", s.field, len(items))
			}
			switch f {
			case "product_id":
				items[n].ProductID = s.value
			case "merchant":
				items[n].Merchant = s.value
			case "quantity":
				q, _ := strconv.Atoi(s.value)
				items[n].Quantity = q
			case "price_cents":
				items[n].PriceCents, _ = strconv.ParseInt(s.value, 10, 64)
			}
		}
	}
	req.Items = items
	if err := processor.Validate(*req); err != nil {
		return fmt.Errorf("dlq: the patched request: %w", err)
	}
	return nil
}
