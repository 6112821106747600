-- r4: page views of every product of one category
\set cat random(1, 50)
SELECT p.id, p.name, count(*) FROM products p JOIN page_views v ON v.product_id = p.id WHERE p.category_id = :cat GROUP BY p.id, p.name;
