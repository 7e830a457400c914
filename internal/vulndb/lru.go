package vulndb

import "container/list"

// lru is a map bounded by the total cost of its entries (each entry's
// cost is given when it is put), forgetting the least recently used
// first. It is not safe for concurrent use: DB guards it.
type lru[V any] struct {
	maxCost, cost int
	order         *list.List // front: most recent; values are *lruEntry[V]
	items         map[string]*list.Element
}

type lruEntry[V any] struct {
	key  string
	val  V
	cost int
}

func newLRU[V any](maxCost int) *lru[V] {
	return &lru[V]{maxCost: maxCost, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *lru[V]) get(key string) (V, bool) {
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(key string, val V, cost int) {
	if e, ok := c.items[key]; ok {
		c.order.Remove(e)
		c.cost -= e.Value.(*lruEntry[V]).cost
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, val: val, cost: cost})
	c.cost += cost
	for c.cost > c.maxCost && c.order.Len() > 1 {
		old := c.order.Back()
		c.order.Remove(old)
		en := old.Value.(*lruEntry[V])
		delete(c.items, en.key)
		c.cost -= en.cost
	}
}

func (c *lru[V]) len() int { return c.order.Len() }
