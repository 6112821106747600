-- w5: a customer changes segment (rare)
\set cid random(1, :ncust)
\set s random(1, 5)
UPDATE customers SET segment = (ARRAY['consumer', 'small_business', 'corporate', 'enterprise', 'government'])[:s::int] WHERE id = :cid;
