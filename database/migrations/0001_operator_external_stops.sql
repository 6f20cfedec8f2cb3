CREATE TABLE `operator_commands` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`ts` integer NOT NULL,
	`command` text NOT NULL,
	`args` text NOT NULL,
	`who` text NOT NULL,
	`reason` text NOT NULL,
	`outcome` text NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `operator_commands_run_idx` ON `operator_commands` (`run_id`);--> statement-breakpoint
ALTER TABLE `fills` ADD `external` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `stop_price` text;--> statement-breakpoint
ALTER TABLE `orders` ADD `external` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `signals` ADD `stop_price` text;