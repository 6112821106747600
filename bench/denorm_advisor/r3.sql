-- r3: shipped orders of one week by customer segment
\set d1 10000 * random(2023, 2024) + 100 * random(1, 12) + random(1, 28)
SELECT c.segment, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'shipped' AND o.ordered_at >= :d1::timestamptz AND o.ordered_at < :d1::timestamptz + interval '7 days' GROUP BY c.segment;
