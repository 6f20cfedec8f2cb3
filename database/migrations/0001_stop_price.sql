ALTER TABLE `orders` ADD `stop_price` text;--> statement-breakpoint
ALTER TABLE `signals` ADD `stop_price` text;