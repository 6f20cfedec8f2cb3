ALTER TABLE `fills` ADD `external` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `external` integer DEFAULT false NOT NULL;